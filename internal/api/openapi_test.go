package api

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestOpenAPIMatchesTypes keeps api/openapi.yaml in step with the handlers:
// every route is documented and every documented schema lists exactly the
// JSON fields of its Go type.
func TestOpenAPIMatchesTypes(t *testing.T) {
	raw, err := os.ReadFile("../../api/openapi.yaml")
	require.NoError(t, err)
	var doc struct {
		OpenAPI    string                    `yaml:"openapi"`
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `yaml:"properties"`
				Required   []string       `yaml:"required"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	assert.Equal(t, "3.1.0", doc.OpenAPI)

	for _, p := range []string{"/v1/models", "/v1/models/{id}", "/v1/models/{id}/performance", "/v1/models/{id}/drift", "/v1/models/{id}/slices", "/v1/experiments", "/v1/experiments/{id}"} {
		assert.Contains(t, doc.Paths[p], "get", p)
	}
	types := map[string]any{
		"Error": Error{}, "ModelList": ModelList{}, "ModelSummary": ModelSummary{}, "ModelVersion": ModelVersion{},
		"ModelDetail": ModelDetail{}, "TrainingJob": TrainingJob{}, "FeatureImportance": FeatureImportance{}, "Baseline": Baseline{},
		"Period": Period{}, "PerformanceHistory": PerformanceHistory{}, "PerformanceSummary": PerformanceSummary{},
		"PerformanceWindow": PerformanceWindow{}, "Prediction": Prediction{}, "DriftHistory": DriftHistory{},
		"FeatureDrift": FeatureDrift{}, "DriftWindow": DriftWindow{}, "ExperimentWindow": ExperimentWindow{},
		"Experiment": Experiment{}, "Variant": Variant{}, "ExperimentList": ExperimentList{}, "ExperimentSummary": ExperimentSummary{}, "VariantMetric": VariantMetric{},
		"SliceList": SliceList{}, "SliceSummary": SliceSummary{},
	}
	for name, v := range types {
		schema, ok := doc.Components.Schemas[name]
		if !assert.True(t, ok, "schema %s missing", name) {
			continue
		}
		var documented []string
		for p := range schema.Properties {
			documented = append(documented, p)
		}
		assert.ElementsMatch(t, jsonFields(reflect.TypeOf(v)), documented, name)
		// Every field without omitempty is always present, so the schema
		// requires it (clients generated from the spec rely on it).
		assert.ElementsMatch(t, alwaysPresent(reflect.TypeOf(v)), schema.Required, name+" required")
	}
}

func alwaysPresent(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		tag, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag != "" && tag != "-" && !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			out = append(out, tag)
		}
	}
	return out
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag != "" && tag != "-" && !slices.Contains(out, tag) {
			out = append(out, tag)
		}
	}
	return out
}
