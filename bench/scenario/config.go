package scenario

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rxpath/rxpath/internal/harness/traffic"
)

func validMethod(s string) bool { _, err := traffic.ParseMethod(s); return err == nil }

// Config is a run's parameters. Preset returns the modes' values.
type Config struct {
	Mode     string // quick, full, smoke (reported only)
	Reps     int
	Duration time.Duration // one repetition's send time
	Warmup   time.Duration // sending before the first repetition
	// Queues is the number of veth queues. Queue i is fed by a generator
	// thread on CPU i%ncpu and read by receiver threads on CPU
	// (i+1)%ncpu: with one queue, generator on 0 and receiver on 1.
	Queues int
	// Flows is the number of UDP source ports the generator cycles.
	Flows int
	// Generator is a generator method as traffic.ParseMethod takes it:
	// "auto" (live frames, else AF_XDP, else AF_PACKET, each probed with
	// a real send), "xdp", "xsk" or "packet".
	Generator string
	// Port is the UDP destination port.
	Port uint16
	// StackPackets is how many packets one stack-cost repetition replays.
	StackPackets uint64
	// Nice is the nice value of the generator and receiver threads (0,
	// the default, leaves priorities alone; -20 lets other work on the
	// machine take little of their CPUs, within this process's
	// scheduling group). Kernel threads such as ksoftirqd keep theirs.
	Nice int
	// BusySpin makes rxpath's pollers spin without ever sleeping
	// (poller.Options.IdleSpin < 0, as `rxpath demo` runs them) instead
	// of the default: spin while traffic flows, sleep in poll(2) only after
	// real idleness (the adaptive policy, poller.Options.IdleSpin 0).
	BusySpin bool
	// Isolated records that the run has a scheduling group of its own
	// (rxbench --isolate); reported only.
	Isolated bool
	// Progress receives one line per step while the run goes on (nil:
	// none).
	Progress io.Writer
}

// Preset returns the Config of a mode: "quick" (the whole run in under
// two minutes), "full" or "smoke" (every scenario starts and produces
// figures, for tests).
func Preset(mode string) (Config, error) {
	c := Config{Mode: mode, Queues: 1, Flows: 1, Generator: "auto", Port: 9000}
	switch mode {
	case "full":
		c.Reps, c.Duration, c.Warmup, c.StackPackets = 5, 5*time.Second, 2*time.Second, 2_000_000
	case "quick":
		c.Reps, c.Duration, c.Warmup, c.StackPackets = 3, time.Second, 500*time.Millisecond, 300_000
	case "smoke":
		c.Reps, c.Duration, c.Warmup, c.StackPackets = 2, 150*time.Millisecond, 50*time.Millisecond, 20_000
	default:
		return Config{}, fmt.Errorf("unknown mode %q (want quick, full or smoke)", mode)
	}
	return c, nil
}

// Validate checks c.
func (c Config) Validate() error {
	switch {
	case c.Reps < 1:
		return errors.New("reps must be at least 1")
	case c.Duration <= 0:
		return errors.New("duration must be positive")
	case c.Warmup < 0:
		return errors.New("warm-up must not be negative")
	case c.Queues < 1 || c.Queues > 64:
		return fmt.Errorf("queues %d out of range [1, 64]", c.Queues)
	case c.Flows < 1 || c.Flows > 1<<15:
		return fmt.Errorf("flows %d out of range [1, 32768]", c.Flows)
	case !validMethod(c.Generator):
		_, err := traffic.ParseMethod(c.Generator)
		return err
	case c.Port == 0:
		return errors.New("port must not be 0")
	case c.Nice < -20 || c.Nice > 19:
		return fmt.Errorf("nice %d out of range [-20, 19]", c.Nice)
	case c.StackPackets == 0:
		return errors.New("stack-cost packets must be positive")
	}
	return nil
}

// GenCPU and RxCPU place queue q's generator and receiver threads.
func GenCPU(q, ncpu int) int { return q % ncpu }

// RxCPU is the receiver CPU of queue q: the next one after its generator.
func RxCPU(q, ncpu int) int { return (q + 1) % ncpu }
