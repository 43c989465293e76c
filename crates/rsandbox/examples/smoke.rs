use rsandbox::{Command, Sandbox, Stdio};
fn main() {
    let sb = Sandbox::new()
        .user_ns()
        .pid_ns()
        .mount_ns()
        .uts_ns()
        .net_ns()
        .ipc_ns()
        .hostname("box");
    let out = sb.output(&Command::from_argv(["/bin/sh", "-c", "echo hi; hostname; id; ps -ef 2>&1 | head; ls /proc/self/fd; cat /proc/self/uid_map; ip link 2>&1 || cat /proc/net/dev; exit 3"])).unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    println!("{:?}", out.outcome);
    let e = Sandbox::new()
        .spawn(&Command::new("nonexistent-prog"))
        .unwrap_err();
    println!("{e}");
    let o = Sandbox::new()
        .pid_ns()
        .stdout(Stdio::Null)
        .status(&Command::from_argv(["/bin/sh", "-c", "kill -9 $$"]))
        .unwrap();
    println!("{:?}", o);
}
