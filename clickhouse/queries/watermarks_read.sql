-- watermarks_read: every watermark (largest value per name wins).
SELECT name, value
FROM {db}.aggregator_watermarks FINAL
