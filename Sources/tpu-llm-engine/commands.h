/*
 * tpu-llm-engine's commands. main() dispatches on the first argument; each command parses the rest and returns
 * the process exit code.
 */
#pragma once

namespace tpu_cli {

enum ExitCode { exit_ok = 0, exit_usage = 2, exit_load_failed = 3, exit_generation_failed = 4 };

/* argv[0] is the command name ("generate"), the options follow. */
int run_generate(int argc, char **argv);
int run_tokenize(int argc, char **argv);
int run_info(int argc, char **argv);
/* The resident HTTP server: defined in serve_command.cpp (the server's own files). */
int run_serve(int argc, char **argv);

}  // namespace tpu_cli
