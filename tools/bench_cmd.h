/* bench_cmd.h - `barge bench`: the command line of the benchmark (parsing,
 * configuration, the text table and the JSON document); the work is in
 * engine/bench.c. */
#ifndef BG_BENCH_CMD_H
#define BG_BENCH_CMD_H

/* argv holds the arguments after "bench".  Returns the exit code: 0 every
 * phase succeeded, 1 a phase had failed objects, 2 usage, configuration or
 * an error that stopped the benchmark.  Expects curl_global_init to have
 * run. */
int cmd_bench(int argc, char **argv);

#endif
