package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

type createLeadsBody struct {
	Leads []createLeadBody `json:"leads"`
}

// batchItem is one lead of a batch in the answer: the lead, or its error.
type batchItem struct {
	Lead  *core.Lead `json:"lead,omitempty"`
	Error *errorBody `json:"error,omitempty"`
}

type batchJSON struct {
	Items   []batchItem `json:"items"`
	Created int         `json:"created"`
	Failed  int         `json:"failed"`
}

// createLeads creates up to core.MaxBatchLeads leads in one transaction. The
// answer is 200 with one item per lead, in order, even when some failed: a
// client retries only the failed ones.
func (a *API) createLeads(c *gin.Context, svc core.LeadBatchService) {
	var body createLeadsBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	in := make([]core.NewLead, len(body.Leads))
	pre := make([]error, len(body.Leads))
	for i, b := range body.Leads {
		in[i] = core.NewLead{Fields: b.fields(), Attributes: jsonObject(b.Attributes), Tags: b.Tags}
		if b.UserID != nil {
			if *b.UserID == "" {
				pre[i] = core.Invalid(map[string]string{"user_id": "must not be empty; leave it out to have one generated"})
				in[i].UserID = "\x00" // refused by the store's validation too; the error above is the one shown
				continue
			}
			in[i].UserID = *b.UserID
		}
	}
	res, err := svc.CreateLeads(c.Request.Context(), c.Param("project"), in, principal(c).Actor())
	if err != nil {
		writeError(c, err)
		return
	}
	out := batchJSON{Items: make([]batchItem, len(res))}
	for i, r := range res {
		if pre[i] != nil {
			r.Err, r.Lead = pre[i], nil
		}
		if r.Err != nil {
			out.Failed++
			e := &errorBody{Code: core.ErrorCode(r.Err), Message: core.ErrorMessage(r.Err)}
			var ce *core.Error
			if errors.As(r.Err, &ce) {
				e.Fields = ce.Fields
			}
			out.Items[i].Error = e
			continue
		}
		out.Created++
		out.Items[i].Lead = r.Lead
	}
	c.JSON(http.StatusOK, out)
}
