//! Child processes of the real peers (Pebble, nginx), run under `timeout` so they die even
//! when the test process is killed.

use std::process::{Child, Command};
use std::time::Duration;

/// A running child process (`timeout … <program>`), stopped on drop: SIGTERM to `timeout`,
/// which passes it on to the program, then SIGKILL if it lingers (2 s).
pub(crate) struct Proc(Option<Child>);

impl Proc {
    pub(crate) fn new(child: Child) -> Proc {
        Proc(Some(child))
    }

    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}
