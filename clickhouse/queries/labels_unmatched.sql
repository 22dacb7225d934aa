-- labels_unmatched: per binary model (every version registered as binary
-- in models, or none registered: binary is the default), the outcomes
-- ingested in (since, until] whose label is a positive class of the model
-- ('1' without metadata), and up to three of the other label values. The
-- aggregator gathers the other values across cycles until a positive-class
-- label arrives: two or more of them and never the positive class mean
-- labels that cannot be this model's binary labels ("true"/"false" or
-- "yes"/"no" against positive_class "1", classes of a model that is not
-- binary). Every window then counts no positive, and precision and recall
-- read 0 or null without any error.
--
-- Parameters: since, until DateTime64(3).
SELECT
    o.model_id AS model_id,
    any(m.classes) AS positive_classes,
    countIf(has(if(empty(m.classes), ['1'], m.classes), o.l)) AS matched,
    arraySort(groupUniqArrayIf(3)(o.l, NOT has(if(empty(m.classes), ['1'], m.classes), o.l))) AS examples,
    count() AS labels
FROM
(
    SELECT model_id, assumeNotNull(label) AS l
    FROM {db}.outcomes
    WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
      AND label IS NOT NULL
) AS o
LEFT ANY JOIN
(
    SELECT model_id, groupUniqArrayIf(positive_class, problem_type = 'binary') AS classes,
           countIf(problem_type != 'binary') AS other
    FROM {db}.models FINAL
    GROUP BY model_id
) AS m ON m.model_id = o.model_id
WHERE m.other = 0
GROUP BY o.model_id
ORDER BY model_id
