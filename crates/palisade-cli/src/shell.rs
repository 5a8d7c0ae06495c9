//! Shell habits: completion scripts (clap_complete), man pages (clap_mangen), and the
//! `--color` choice (anstream strips colour codes when stdout is not a terminal, when
//! `NO_COLOR` is set, or with `--color never`).

use std::path::PathBuf;

use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

/// `--color`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ColorWhen {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Always, even into a pipe.
    Always,
    /// Never.
    Never,
}

impl ColorWhen {
    /// Makes the choice for every later write through anstream.
    pub fn apply(self) {
        let choice = match self {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        };
        choice.write_global();
    }
}

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  palisade completion bash > /etc/bash_completion.d/palisade
  palisade completion zsh > \"${fpath[1]}/_palisade\"
  palisade completion fish > ~/.config/fish/completions/palisade.fish")]
pub struct CompletionArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  palisade manpages /usr/local/share/man/man1
  palisade manpages target/man && man -l target/man/palisade-analyze.1")]
pub struct ManpagesArgs {
    /// The directory to write palisade.1 and palisade-SUBCOMMAND.1 into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The completion script for `args.shell`.
pub fn completion<C: CommandFactory>(args: &CompletionArgs) -> String {
    let mut cmd = C::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "palisade", &mut out);
    String::from_utf8(out).expect("completion scripts are UTF-8")
}

/// Writes the man pages; says which files it wrote.
pub fn manpages<C: CommandFactory>(args: &ManpagesArgs) -> anyhow::Result<String> {
    std::fs::create_dir_all(&args.dir).map_err(|e| anyhow::anyhow!("{}: {e}", args.dir.display()))?;
    let cmd = C::command().name("palisade");
    let mut written = Vec::new();
    write_page(&cmd, "palisade", &args.dir, &mut written)?;
    Ok(written.iter().map(|p| format!("{p}\n")).collect())
}

/// The page of `cmd` (named `name`), then those of its subcommands, recursively.
fn write_page(
    cmd: &clap::Command,
    name: &str,
    dir: &std::path::Path,
    written: &mut Vec<String>,
) -> anyhow::Result<()> {
    let page = cmd.clone().name(name.to_string());
    let mut bytes = Vec::new();
    clap_mangen::Man::new(page).render(&mut bytes)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    written.push(path.display().to_string());
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_page(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
