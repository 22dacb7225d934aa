-- watermarks_read: every watermark (largest value per name wins).
SELECT name, value
FROM predlog.aggregator_watermarks FINAL
