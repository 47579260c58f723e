package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/spf13/cobra"
)

// projectionJSON is one projection version as projections --json prints it.
type projectionJSON struct {
	Name           string  `json:"name"`
	Version        int     `json:"version"`
	Stage          string  `json:"stage"`
	State          string  `json:"state"`
	Checkpoint     string  `json:"checkpoint"`
	Head           string  `json:"head"`
	LagEvents      int64   `json:"lag_events"`
	LagSeconds     float64 `json:"lag_seconds"`
	CaughtUp       bool    `json:"caught_up"`
	ParkedStreams  int     `json:"parked_streams"`
	Owner          string  `json:"owner,omitempty"`
	Error          string  `json:"error,omitempty"`
	ResetRequested bool    `json:"reset_requested,omitempty"`
}

func newProjectionJSON(s projection.Status) projectionJSON {
	return projectionJSON{s.Name, s.Version, string(s.Stage), string(s.State), s.Checkpoint.String(),
		s.Head.String(), s.LagEvents, s.LagTime.Seconds(), s.CaughtUp, s.ParkedStreams, s.Owner, s.Error, s.ResetRequested}
}

// parkedJSON is one parked stream as projections parked --json prints it.
type parkedJSON struct {
	Stream       string    `json:"stream"`
	Position     string    `json:"position"`
	EventID      string    `json:"event_id"`
	EventVersion int64     `json:"event_version"`
	EventType    string    `json:"event_type"`
	Error        string    `json:"error"`
	Attempts     int       `json:"attempts"`
	Time         time.Time `json:"time"`
	Request      string    `json:"request,omitempty"`
}

func (a *app) projectionsCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "projections",
		Short: "Show the projections (read models) of the store: status and lag; retry, skip, reset",
		Long: `Without a subcommand, list every version of every projection that the
store records (package projection): stage, state, checkpoint, lag behind
the head in events and time, parked streams, the runner that holds it and
its error.

chronicle runs no projection itself: it reads what the runners record. A
version that a runner holds shows as "standby" (or "parked" with parked
streams) with that runner as OWNER; it cannot tell catching up from live,
but LAG can. retry, skip and reset record a request that the runner that
holds the projection carries out (reset with the projection's own Reset
function, which clears its read model); they return at once. Follow the
outcome with projections and projections parked.`,
		Example: `  chronicle projections
  chronicle projections parked balances
  chronicle projections retry balances account-42
  chronicle projections reset balances`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAdmin(cmd.Context(), func(ctx context.Context, ad *projection.Admin) error {
				sts, err := ad.Status(ctx)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if jsonOut {
					enc := json.NewEncoder(out)
					for _, s := range sts {
						if err := enc.Encode(newProjectionJSON(s)); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tSTAGE\tSTATE\tCHECKPOINT\tLAG\tPARKED\tOWNER\tERROR")
				for _, s := range sts {
					lag := "-"
					if s.LagEvents > 0 {
						lag = fmt.Sprintf("%d events, %s", s.LagEvents, s.LagTime.Round(time.Millisecond))
					}
					state := string(s.State)
					if s.ResetRequested {
						state += " (reset requested)"
					}
					owner := s.Owner
					if owner == "" {
						owner = "-"
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.Version, s.Stage, state, s.Checkpoint, lag,
						s.ParkedStreams, owner, s.Error)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON Lines instead of a table")
	var parkedJSONOut bool
	parked := &cobra.Command{
		Use:     "parked NAME",
		Short:   "List the parked streams of a projection's active version",
		Example: "  chronicle projections parked balances --json",
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAdmin(cmd.Context(), func(ctx context.Context, ad *projection.Admin) error {
				ps, err := ad.Parked(ctx, args[0])
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if parkedJSONOut {
					enc := json.NewEncoder(out)
					for _, p := range ps {
						if err := enc.Encode(parkedJSON{p.Stream, p.Position.String(), p.EventID, p.EventVersion, p.EventType,
							p.Error, p.Attempts, p.Time, p.Request}); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "STREAM\tVERSION\tTYPE\tATTEMPTS\tPARKED AT\tREQUEST\tERROR")
				for _, p := range ps {
					req := p.Request
					if req == "" {
						req = "-"
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\n", p.Stream, p.EventVersion, p.EventType, p.Attempts, fmtTime(p.Time), req, p.Error)
				}
				return tw.Flush()
			})
		},
	}
	parked.Flags().BoolVar(&parkedJSONOut, "json", false, "print JSON Lines instead of a table")
	request := func(use, short, example string, n int, do func(context.Context, *projection.Admin, []string) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Example: example, Args: args(n, n),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.withAdmin(cmd.Context(), func(ctx context.Context, ad *projection.Admin) error {
					if err := do(ctx, ad, args); err != nil {
						return err
					}
					_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s requested: the runner that holds %s carries it out\n", cmd.Name(), args[0])
					return err
				})
			},
		}
	}
	cmd.AddCommand(parked,
		request("retry NAME STREAM", "Ask a projection to apply a parked stream's held events again",
			"  chronicle projections retry balances account-42", 2,
			func(ctx context.Context, ad *projection.Admin, args []string) error {
				return ad.Retry(ctx, args[0], args[1])
			}),
		request("skip NAME STREAM", "Ask a projection to skip the failed event of a parked stream",
			"  chronicle projections skip balances account-42", 2,
			func(ctx context.Context, ad *projection.Admin, args []string) error {
				return ad.Skip(ctx, args[0], args[1])
			}),
		request("reset NAME", "Ask a projection to clear its read model and replay every event",
			"  chronicle projections reset balances", 1,
			func(ctx context.Context, ad *projection.Admin, args []string) error { return ad.Reset(ctx, args[0]) }),
	)
	return cmd
}

// withAdmin opens the store and runs fn with an Admin of its projections.
func (a *app) withAdmin(ctx context.Context, fn func(context.Context, *projection.Admin) error) (err error) {
	s, err := a.open(ctx, false)
	if err != nil {
		return err
	}
	defer s.close(&err)
	ad, err := projection.NewAdmin(s.Store)
	if err != nil {
		return err
	}
	return fn(ctx, ad)
}
