package boot

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/sqlstore"
)

// registerDBMetrics exposes the database's group commit: how many
// transactions, in how many commits (their ratio is the batching the
// writer achieves under the load of the moment).
func registerDBMetrics(reg prometheus.Registerer, db *sqlstore.DB) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "souk_db_transactions_total", Help: "Write transactions committed or rolled back (SQLite)."},
			func() float64 { return float64(db.Stats().Transactions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "souk_db_commits_total", Help: "Group commits carrying them (SQLite)."},
			func() float64 { return float64(db.Stats().Batches) }),
	)
}
