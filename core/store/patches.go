package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/leadhub/leadhub/core"
)

// ApplyLeadPatches applies many patches, all by actor, in one write: what
// UpdateLead does for each (a patch that changes nothing writes nothing; one
// that changes the lead saves it and emits lead.updated with the lead as it
// is after that patch), for the cost of one operation. Patches of a lead
// apply in order, each to the lead as the previous one left it.
//
// projectIDs[i], leadIDs[i] and patches[i] make the i-th patch. A patch
// that does not validate, carries a status (UpdateLead's business), or whose
// lead is gone or merged, gets its error in errs and writes nothing; the
// others are applied. within, when set, runs last in the same transaction
// (the place to record that the work is done, so that it commits, or rolls
// back, with the patches). err is an error of the write as a whole: then
// nothing was written.
//
// One operation rather than one per patch matters on SQLite: every
// operation of a group commit has a savepoint, and every savepoint makes the
// full-text index write out what it holds in memory.
func (s *Store) ApplyLeadPatches(ctx context.Context, projectIDs, leadIDs []string, patches []core.LeadPatch, actor string,
	within func(ctx context.Context, tx *sql.Tx) error) (errs []error, err error) {
	if len(projectIDs) != len(patches) || len(leadIDs) != len(patches) {
		return nil, fmt.Errorf("apply lead patches: %d projects and %d leads for %d patches", len(projectIDs), len(leadIDs), len(patches))
	}
	errs = make([]error, len(patches))
	todo := make([]int, 0, len(patches))
	for i := range patches {
		switch {
		case patches[i].Status != nil:
			errs[i] = core.Invalid(map[string]string{"status": "a status is changed with UpdateLead"})
		default:
			errs[i] = core.ValidateLeadPatch(&patches[i])
		}
		if errs[i] == nil {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 && within == nil {
		return errs, nil
	}
	err = s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var evs []core.Event
		for _, i := range todo {
			errs[i] = nil // a retry of the operation starts afresh
			_, lev, err := s.patchLeadTx(ctx, tx, projectIDs[i], leadIDs[i], &patches[i], actor)
			switch core.ErrorCode(err) {
			case "":
				evs = append(evs, lev...)
			case core.ENOTFOUND, core.ECONFLICT:
				errs[i] = err // nothing was written for it
			default:
				return err
			}
		}
		if err := s.emit(ctx, tx, evs...); err != nil {
			return err
		}
		if within != nil {
			return within(ctx, tx.Tx.Tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}
