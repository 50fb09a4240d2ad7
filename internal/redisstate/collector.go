package redisstate

import (
	"github.com/gomodule/redigo/redis"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	poolActive = prometheus.NewDesc("redis_pool_active_connections", "Connections in the redigo pool, in use or idle.", nil, nil)
	poolIdle   = prometheus.NewDesc("redis_pool_idle_connections", "Idle connections in the redigo pool.", nil, nil)
	poolWaits  = prometheus.NewDesc("redis_pool_waits_total", "Times a caller waited for a pool connection.", nil, nil)
	poolWaitS  = prometheus.NewDesc("redis_pool_wait_seconds_total", "Total time callers waited for a pool connection.", nil, nil)
)

// PoolCollector exports a redigo pool's statistics to Prometheus.
type PoolCollector struct{ pool *redis.Pool }

// NewPoolCollector returns a collector for pool's statistics.
func NewPoolCollector(pool *redis.Pool) *PoolCollector {
	return &PoolCollector{pool: pool}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolActive
	ch <- poolIdle
	ch <- poolWaits
	ch <- poolWaitS
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stats()
	ch <- prometheus.MustNewConstMetric(poolActive, prometheus.GaugeValue, float64(s.ActiveCount))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleCount))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(poolWaitS, prometheus.CounterValue, s.WaitDuration.Seconds())
}
