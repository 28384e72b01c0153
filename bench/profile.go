package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// profileStep runs f; with cfg.ProfileDir set it also writes a CPU profile
// of f (cpu-NAME.pprof) and the allocation profile before and after it
// (allocs-NAME-base.pprof, allocs-NAME.pprof), so that
//
//	go tool pprof -sample_index=alloc_space -base allocs-NAME-base.pprof allocs-NAME.pprof
//
// shows what f alone allocated. The mount's server runs in this process, so
// the profiles cover the FUSE server, dbcore and the engine together.
// Called from the run's goroutine only: the CPU profiler is process-wide.
func profileStep(cfg *Config, name string, f func() error) error {
	if cfg.ProfileDir == "" {
		return f()
	}
	if err := writeAllocs(filepath.Join(cfg.ProfileDir, "allocs-"+name+"-base.pprof")); err != nil {
		return err
	}
	cpu, err := os.Create(filepath.Join(cfg.ProfileDir, "cpu-"+name+".pprof"))
	if err != nil {
		return fmt.Errorf("%w: profile: %v", ErrBench, err)
	}
	defer cpu.Close()
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return fmt.Errorf("%w: profile: %v", ErrBench, err)
	}
	ferr := f()
	pprof.StopCPUProfile()
	if err := writeAllocs(filepath.Join(cfg.ProfileDir, "allocs-"+name+".pprof")); err != nil && ferr == nil {
		ferr = err
	}
	return ferr
}

func writeAllocs(path string) error {
	runtime.GC() // the allocs profile is only up to date as of the last GC
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%w: profile: %v", ErrBench, err)
	}
	if err := pprof.Lookup("allocs").WriteTo(out, 0); err != nil {
		out.Close()
		return fmt.Errorf("%w: profile: %v", ErrBench, err)
	}
	return out.Close()
}
