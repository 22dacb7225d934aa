-- ab_ztest: two-proportion z-tests (pooled standard error for the
-- statistic; ClickHouse's interval for the difference uses the unpooled
-- one), element-wise: variant successes sx of trials tx against control
-- successes sy of trials ty. Returns [z, p-value, CI low, CI high] of
-- p_variant - p_control per comparison.
--
-- Parameters: sx, tx, sy, ty Array(UInt64); confidence Float64.
SELECT arrayMap(t -> [t.1, t.2, t.3, t.4],
           arrayMap(i -> proportionsZTest({sx:Array(UInt64)}[i], {sy:Array(UInt64)}[i], {tx:Array(UInt64)}[i], {ty:Array(UInt64)}[i],
                                          {confidence:Float64}, 'pooled'),
                    range(1, length({sx:Array(UInt64)}) + 1))) AS tests
