//! `aurora-encrypt asl run`: execute a definition with no task handlers. A Task state fails
//! there, so the project's own definitions run through `aurora-encrypt run --local`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use asl_engine::{Definition, Engine, Status};
use serde_json::{json, Value};

/// Arguments of `aurora-encrypt asl run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The definition file. Task states have no handler here (they fail); the project's own
    /// definitions run with `aurora-encrypt run --local`.
    pub definition: PathBuf,

    /// The execution input: a JSON file, or `-` for stdin. Defaults to `{}`.
    #[arg(long, value_name = "FILE|-")]
    pub input: Option<String>,

    /// Multiply every Wait and Retry interval by this factor (e.g. 0.01).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub time_scale: f64,

    /// Write the execution history to this file as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

/// Exit code of a run whose execution failed.
const EXECUTION_FAILED: u8 = 1;
/// Exit code when the definition or input cannot be used.
const BAD_INPUT: u8 = 2;

/// Prints the failure as AWS's DescribeExecution reports it: no `error` when the execution
/// failed without a name (a Fail state without `Error`).
fn report(error: &str, cause: Option<&str>, code: u8) -> ExitCode {
    let mut failure = json!({ "cause": cause });
    if !error.is_empty() {
        failure["error"] = json!(error);
    }
    eprintln!("{failure}");
    ExitCode::from(code)
}

fn read_input(input: Option<&str>) -> Result<Value, String> {
    let text = match input {
        None => return Ok(json!({})),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read the input from stdin: {e}"))?;
            text
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the input file {path}: {e}"))?,
    };
    serde_json::from_str(&text).map_err(|e| format!("the input is not valid JSON: {e}"))
}

/// The state machine name for `$$.StateMachine.Name`: the file name without `.asl.json`.
fn machine_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "local".into());
    file.trim_end_matches(".json")
        .trim_end_matches(".asl")
        .to_string()
}

/// Runs the definition and reports the outcome.
pub(super) async fn run(args: RunArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&args.definition) {
        Ok(text) => text,
        Err(e) => {
            let cause = format!("cannot read {}: {e}", args.definition.display());
            return report("InvalidDefinition", Some(&cause), BAD_INPUT);
        }
    };
    let definition = match Definition::parse(&text) {
        Ok(d) => d,
        Err(e) => return report("InvalidDefinition", Some(&e.to_string()), BAD_INPUT),
    };
    let input = match read_input(args.input.as_deref()) {
        Ok(v) => v,
        Err(cause) => return report("InvalidExecutionInput", Some(&cause), BAD_INPUT),
    };
    let outcome = Engine::new(definition)
        .with_name(machine_name(&args.definition))
        .with_time_scale(args.time_scale)
        .run(input)
        .await;
    if let Some(path) = &args.history {
        if let Err(e) = std::fs::write(path, outcome.history_json_lines()) {
            eprintln!(
                "warning: cannot write the history to {}: {e}",
                path.display()
            );
        }
    }
    match outcome.status {
        Status::Succeeded(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Status::Failed { error, cause } => report(&error, cause.as_deref(), EXECUTION_FAILED),
        Status::Aborted => report("States.Aborted", None, EXECUTION_FAILED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_name_drops_the_asl_json_suffix() {
        assert_eq!(
            machine_name(Path::new("x/encrypt-cluster.asl.json")),
            "encrypt-cluster"
        );
        assert_eq!(machine_name(Path::new("plain.json")), "plain");
    }

    #[test]
    fn missing_input_means_an_empty_object() {
        assert_eq!(read_input(None), Ok(json!({})));
    }

    #[test]
    fn invalid_input_json_is_reported() {
        let dir = std::env::temp_dir().join(format!("asl-run-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.json");
        std::fs::write(&file, "{oops").unwrap();
        let err = read_input(file.to_str()).unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
    }
}
