package core

import "time"

// StoreMetrics receives the store's figures. The metrics adapter implements it;
// the store only calls it.
type StoreMetrics interface {
	// TxDone is called once per committed or failed write transaction with the
	// number of writes it carried.
	TxDone(batch int, d time.Duration, err error)
	// LeadsCreated and RequestsCreated count new rows.
	LeadsCreated(n int)
	RequestsCreated(n int)
}

// NopStoreMetrics discards everything.
type NopStoreMetrics struct{}

func (NopStoreMetrics) TxDone(int, time.Duration, error) {}
func (NopStoreMetrics) LeadsCreated(int)                 {}
func (NopStoreMetrics) RequestsCreated(int)              {}
