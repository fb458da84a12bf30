// Command noisy is a plugin that prints to stdout before Serve, the way real
// programs do by accident; the SDK's process tests start it.
package main

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/leadhub/leadhub/sdk"
)

func init() {
	fmt.Println("noise from init")
	_, _ = syscall.Write(1, []byte("raw noise on fd 1\n"))
}

type noisy struct {
	sdk.Base
	host sdk.HostAPI
}

func (*noisy) Describe() sdk.Description {
	return sdk.Description{Name: "noisy", Version: "0.0.1", Kinds: []sdk.Kind{sdk.KindEnricher}, EventTypes: []string{sdk.EventAll}}
}

func (n *noisy) Configure(_ context.Context, _ []byte, host sdk.HostAPI) error {
	fmt.Println("noise from configure")
	n.host = host
	return nil
}

func (n *noisy) Enrich(ctx context.Context, ev sdk.Event, lead sdk.Lead) (sdk.Patch, error) {
	fmt.Println("noise from enrich")
	same, err := n.host.FindLeadsByEmail(ctx, ev.ProjectID, lead.Email)
	if err != nil {
		return sdk.Patch{}, err
	}
	return sdk.Patch{Attributes: map[string]any{"same_email": len(same)}}, nil
}

func main() {
	fmt.Println("noise from main")
	fmt.Fprintln(os.Stdout, "more noise from main")
	sdk.Serve(&noisy{})
}
