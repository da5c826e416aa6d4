package server

import "github.com/prometheus/client_golang/prometheus"

var (
	proposalsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "arbor_server_proposals_total", Help: "Writes proposed through Raft by this member."})
	proposalsFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "arbor_server_proposals_failed_total", Help: "Proposals that failed or timed out before being applied."})
	batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "arbor_server_proposal_batch_size", Help: "Writes carried by one log entry.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12)})
	appliedIndexGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "arbor_server_applied_index", Help: "Raft index of the last applied entry."})
)

// Collectors returns the member's metrics: package-wide ones plus gauges
// that read this member's store.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{proposalsTotal, proposalsFailed, batchSize, appliedIndexGauge,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "arbor_store_nodes", Help: "Keys and directories in the store."},
			func() float64 { return float64(s.store.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "arbor_store_watchers", Help: "Open watchers."},
			func() float64 { return float64(s.store.Stats().Watchers) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "arbor_store_index", Help: "Store index (X-Etcd-Index)."},
			func() float64 { return float64(s.store.Index()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "arbor_server_is_leader", Help: "1 if this member leads."},
			func() float64 {
				if s.node.Status().IsLeader {
					return 1
				}
				return 0
			}),
	}
}
