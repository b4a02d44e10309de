"""Pure decision logic, no I/O and no clock: planner, book solver, risk checks and the gate."""
