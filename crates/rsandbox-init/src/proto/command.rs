//! The command a warm pool sends through a box's gate.
//!
//! A pooled box is set up before its payload is known: the init's payload
//! process waits at the gate with `command_gate` set on the control line,
//! and the caller releases it with one message instead of one byte:
//!
//! ```text
//! u32 LEN (native endian) | BODY (LEN bytes)
//! BODY = u32 ARGC | u32 ENVC | PROGRAM\0 | ARGV[0]\0 ... | ENV[0]\0 ...
//! ```
//!
//! `ENVC` = [`KEEP_ENV`] keeps the environment the box was spawned with.
//! The limits are fixed ([`BODY_MAX`], [`ARGS_MAX`], [`ENV_MAX`]) so the
//! no_std init reads the body into a static buffer and builds the exec's
//! pointer arrays in fixed arrays, without allocating. The caller encodes
//! with [`encode`], which refuses what the init would refuse, before
//! anything is sent.

/// Longest body (program, argv and environment with their NULs and the two
/// counts).
pub const BODY_MAX: usize = 32 * 1024;
/// Most argv entries.
pub const ARGS_MAX: usize = 256;
/// Most environment entries.
pub const ENV_MAX: usize = 256;
/// `ENVC` meaning "keep the environment the box was spawned with".
pub const KEEP_ENV: u32 = u32::MAX;

/// Why a command cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The program path is empty.
    EmptyProgram,
    /// argv is empty (the payload's `argv[0]` is missing).
    NoArgv,
    /// More than [`ARGS_MAX`] argv entries.
    TooManyArgs,
    /// More than [`ENV_MAX`] environment entries.
    TooManyVars,
    /// A string holds a NUL byte.
    Nul,
    /// The message is longer than [`BODY_MAX`] (or than the buffer given).
    TooLong,
}

impl Refused {
    /// What is wrong, in words.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::EmptyProgram => "the program path is empty",
            Refused::NoArgv => "argv is empty",
            Refused::TooManyArgs => "more than 256 arguments",
            Refused::TooManyVars => "more than 256 environment variables",
            Refused::Nul => "a string holds a NUL byte",
            Refused::TooLong => "program, arguments and environment exceed 32 KiB",
        }
    }
}

/// Encode the message (length prefix included) into `out`; returns its
/// length. `env` `None` keeps the box's environment.
pub fn encode(
    program: &[u8],
    argv: &[&[u8]],
    env: Option<&[&[u8]]>,
    out: &mut [u8],
) -> Result<usize, Refused> {
    if program.is_empty() {
        return Err(Refused::EmptyProgram);
    }
    if argv.is_empty() {
        return Err(Refused::NoArgv);
    }
    if argv.len() > ARGS_MAX {
        return Err(Refused::TooManyArgs);
    }
    let envc = match env {
        Some(e) if e.len() > ENV_MAX => return Err(Refused::TooManyVars),
        Some(e) => e.len() as u32,
        None => KEEP_ENV,
    };
    let cap = out.len().min(BODY_MAX + 4);
    let mut w = Out {
        buf: &mut out[..cap],
        len: 4,
    };
    w.put(&(argv.len() as u32).to_ne_bytes())?;
    w.put(&envc.to_ne_bytes())?;
    w.string(program)?;
    for a in argv.iter().chain(env.unwrap_or(&[])) {
        w.string(a)?;
    }
    let n = w.len;
    out[..4].copy_from_slice(&((n - 4) as u32).to_ne_bytes());
    Ok(n)
}

struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Out<'_> {
    fn put(&mut self, s: &[u8]) -> Result<(), Refused> {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(Refused::TooLong);
        }
        self.buf[self.len..end].copy_from_slice(s);
        self.len = end;
        Ok(())
    }

    fn string(&mut self, s: &[u8]) -> Result<(), Refused> {
        if s.contains(&0) {
            return Err(Refused::Nul);
        }
        self.put(s)?;
        self.put(&[0])
    }
}

/// A decoded body: pointers into it, ready for `execve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The program (NUL-terminated, inside the body).
    pub program: *const u8,
    /// Use the `envp` array (else keep the box's environment).
    pub has_env: bool,
}

/// Check a body and fill `argv` and `envp` with pointers to its strings,
/// each array NULL-terminated. `None`: malformed (counts over the limits,
/// a string missing its NUL, bytes left over).
pub fn decode(
    body: &[u8],
    argv: &mut [*const u8; ARGS_MAX + 1],
    envp: &mut [*const u8; ENV_MAX + 1],
) -> Option<Decoded> {
    let (argc, rest) = take_u32(body)?;
    let (envc, mut rest) = take_u32(rest)?;
    let argc = argc as usize;
    let has_env = envc != KEEP_ENV;
    let envc = if has_env { envc as usize } else { 0 };
    if argc == 0 || argc > ARGS_MAX || envc > ENV_MAX {
        return None;
    }
    let program = rest.as_ptr();
    rest = skip_string(rest)?;
    if rest.as_ptr() as usize - program as usize == 1 {
        return None; // empty program
    }
    for slot in argv.iter_mut().take(argc) {
        *slot = rest.as_ptr();
        rest = skip_string(rest)?;
    }
    argv[argc] = core::ptr::null();
    for slot in envp.iter_mut().take(envc) {
        *slot = rest.as_ptr();
        rest = skip_string(rest)?;
    }
    envp[envc] = core::ptr::null();
    if !rest.is_empty() {
        return None;
    }
    Some(Decoded { program, has_env })
}

fn take_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = b.split_first_chunk::<4>()?;
    Some((u32::from_ne_bytes(*head), rest))
}

/// The bytes after the first NUL (`None` without one).
fn skip_string(b: &[u8]) -> Option<&[u8]> {
    let nul = b.iter().position(|&c| c == 0)?;
    Some(&b[nul + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::vec;
    use std::vec::Vec;

    fn arrays() -> ([*const u8; ARGS_MAX + 1], [*const u8; ENV_MAX + 1]) {
        (
            [core::ptr::null(); ARGS_MAX + 1],
            [core::ptr::null(); ENV_MAX + 1],
        )
    }

    fn strings(ptrs: &[*const u8]) -> Vec<&[u8]> {
        ptrs.iter()
            .take_while(|p| !p.is_null())
            // SAFETY: decode points at NUL-terminated strings of the body.
            .map(|&p| unsafe { CStr::from_ptr(p.cast()) }.to_bytes())
            .collect()
    }

    #[test]
    fn a_command_round_trips() {
        let mut buf = vec![0u8; BODY_MAX + 4];
        let argv: [&[u8]; 3] = [b"sh", b"-c", b"echo hi"];
        let env: [&[u8]; 1] = [b"A=1"];
        let n = encode(b"/bin/sh", &argv, Some(&env), &mut buf).unwrap();
        let len = u32::from_ne_bytes(buf[..4].try_into().unwrap()) as usize;
        assert_eq!(len, n - 4);
        let (mut a, mut e) = arrays();
        let d = decode(&buf[4..n], &mut a, &mut e).unwrap();
        assert!(d.has_env);
        // SAFETY: the program is NUL-terminated in the body.
        let prog = unsafe { CStr::from_ptr(d.program.cast()) };
        assert_eq!(prog.to_bytes(), b"/bin/sh");
        assert_eq!(strings(&a), argv);
        assert_eq!(strings(&e), env);
    }

    #[test]
    fn no_env_keeps_the_box_environment() {
        let mut buf = [0u8; 64];
        let n = encode(b"/bin/true", &[b"true"], None, &mut buf).unwrap();
        let (mut a, mut e) = arrays();
        let d = decode(&buf[4..n], &mut a, &mut e).unwrap();
        assert!(!d.has_env);
        assert_eq!(strings(&a), [&b"true"[..]]);
        assert!(e[0].is_null());
    }

    /// Program, argv, environment, the refusal expected.
    type Case<'a> = (&'a [u8], &'a [&'a [u8]], Option<&'a [&'a [u8]]>, Refused);

    #[test]
    fn bad_commands_are_refused_before_sending() {
        let mut buf = vec![0u8; BODY_MAX + 4];
        let many: Vec<&[u8]> = vec![b"x"; ARGS_MAX + 1];
        let big = vec![b'a'; BODY_MAX];
        let cases: [Case; 6] = [
            (b"", &[b"x"], None, Refused::EmptyProgram),
            (b"/bin/true", &[], None, Refused::NoArgv),
            (b"/bin/true", &many, None, Refused::TooManyArgs),
            (b"/bin/true", &[b"x"], Some(&many), Refused::TooManyVars),
            (b"/bin/true", &[b"a\0b"], None, Refused::Nul),
            (b"/bin/true", &[&big], None, Refused::TooLong),
        ];
        for (prog, argv, env, want) in cases {
            assert_eq!(encode(prog, argv, env, &mut buf), Err(want));
        }
        // A buffer smaller than the message is "too long" too, never a panic.
        assert_eq!(
            encode(b"/bin/true", &[b"true"], None, &mut [0u8; 8]),
            Err(Refused::TooLong)
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let mut buf = [0u8; 64];
        let n = encode(b"/bin/true", &[b"true", b"x"], None, &mut buf).unwrap();
        let good = buf[4..n].to_vec();
        let (mut a, mut e) = arrays();
        let mut extra = good.clone();
        extra.push(b'z');
        let mut zero_argc = good.clone();
        zero_argc[..4].copy_from_slice(&0u32.to_ne_bytes());
        let mut huge_argc = good.clone();
        huge_argc[..4].copy_from_slice(&(ARGS_MAX as u32 + 1).to_ne_bytes());
        let mut huge_envc = good.clone();
        huge_envc[4..8].copy_from_slice(&(ENV_MAX as u32 + 1).to_ne_bytes());
        let mut empty_prog = good[..8].to_vec();
        empty_prog.extend_from_slice(b"\0true\0x\0");
        for body in [
            &good[..good.len() - 1], // last NUL missing
            &extra,
            &zero_argc,
            &huge_argc,
            &huge_envc,
            &empty_prog,
            &good[..3],
        ] {
            assert_eq!(decode(body, &mut a, &mut e), None, "{body:?}");
        }
        assert!(decode(&good, &mut a, &mut e).is_some());
    }
}
