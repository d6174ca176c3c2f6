package playbook

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SweepFunc looks for hygiene findings (orphaned accounts, dormant
// privileged accounts, disabled accounts with live sessions) and returns
// them as events. now is the sweep's time.
//
// A finding must get the same Event.ID every time it is found (for example
// type, subject and day), so that the runner's de-duplication window keeps
// a standing finding from starting a run on every sweep. SweepFunc must
// only read.
type SweepFunc func(ctx context.Context, now time.Time) ([]Event, error)

// Schedule is a Trigger that runs a sweep at once and then every Interval,
// and emits each finding. A sweep that fails, or a finding the runner
// refuses for another reason than being a duplicate, is reported to
// OnError and the schedule goes on; a failing sweep is never silent.
type Schedule struct {
	// Interval between sweeps. Required, at least one second.
	Interval time.Duration
	// Sweep finds the events. Required.
	Sweep SweepFunc
	// OnError is told about every failed sweep and refused finding.
	// Required.
	OnError func(error)
}

// Run sweeps until ctx ends, then returns nil. It returns an error at once
// when the Schedule is incomplete.
func (s Schedule) Run(ctx context.Context, emit func(context.Context, Event) error) error {
	switch {
	case s.Sweep == nil:
		return errors.New("playbook: Schedule.Sweep is required")
	case s.OnError == nil:
		return errors.New("playbook: Schedule.OnError is required (a failing sweep must be seen)")
	case s.Interval < time.Second:
		return fmt.Errorf("playbook: Schedule.Interval %s is below one second", s.Interval)
	}
	ticker := time.NewTicker(s.Interval)
	defer ticker.Stop()
	for {
		s.once(ctx, emit)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (s Schedule) once(ctx context.Context, emit func(context.Context, Event) error) {
	var events []Event
	err := safeCall("sweep", func() error {
		var err error
		events, err = s.Sweep(ctx, time.Now())
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			s.OnError(fmt.Errorf("playbook: sweep failed: %w", err))
		}
		return
	}
	for _, ev := range events {
		if err := emit(ctx, ev); err != nil && !errors.Is(err, ErrDuplicate) {
			if ctx.Err() != nil {
				return
			}
			s.OnError(fmt.Errorf("playbook: sweep finding %q refused: %w", ev.ID, err))
		}
	}
}
