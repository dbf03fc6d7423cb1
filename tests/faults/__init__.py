"""Fault-injection suite (`make test-faults`): real worker, beat, broker and database processes
are killed, stopped and restarted by pid, and every scenario ends with the consistency oracle
(`tests.faults.oracle.assert_system_consistent`)."""
