-- labels_unmatched: per binary model (every version registered as binary
-- in models, or none registered: binary is the default), the labels of the
-- outcomes ingested in (since, until] that are not a positive class of the
-- model ('1' without metadata). Two or more distinct such values mean the
-- labels cannot be binary labels of this positive class: labels sent as
-- "true"/"false" or "yes"/"no" against positive_class "1", or classes of a
-- model that is not binary. Every window then counts no positive at all,
-- and precision and recall are 0 or null without any error. One value is
-- the negative class, and a model whose labels in the span are all
-- negative is not told apart from one whose positives are rare.
--
-- Parameters: since, until DateTime64(3).
SELECT
    o.model_id AS model_id,
    any(m.classes) AS positive_classes,
    uniqExactIf(o.l, NOT has(if(empty(m.classes), ['1'], m.classes), o.l)) AS unmatched,
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
ORDER BY unmatched DESC, labels DESC, model_id
