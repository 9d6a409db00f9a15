package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
)

// isolatedEnv marks the child that --isolate starts.
const isolatedEnv = "RXBENCH_ISOLATED"

// reexecIsolated runs rxbench again as the leader of a new session: with
// scheduler autogroups on, that gives it a scheduling group of its own,
// which the child renices (reniceAutogroup). Signals are passed on; the
// child's exit code is returned.
func reexecIsolated(args []string, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "rxbench: --isolate: %v\n", err)
		return exitFailed
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), isolatedEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "rxbench: --isolate: %v\n", err)
		return exitFailed
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(stderr, "rxbench: --isolate: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// reniceAutogroup sets the nice value of this session's scheduler
// autogroup. Without autogroups (the file is absent) thread nice values
// alone apply, which is not an error.
func reniceAutogroup(nice int) error {
	err := os.WriteFile("/proc/self/autogroup", []byte(strconv.Itoa(nice)), 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("renice the autogroup: %w", err)
	}
	return nil
}
