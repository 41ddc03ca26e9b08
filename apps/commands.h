// commands.h — the `trit` subcommands. Each takes the arguments after the
// subcommand name (argv[0] is the subcommand), prints its own --help, and
// returns the process exit status. Errors go to stderr as "trit: error: ...".
#ifndef TRIT_COMMANDS_H
#define TRIT_COMMANDS_H

int cmd_tokenize(int argc, char **argv);  // apps/cmd_tokenize.c
int cmd_info(int argc, char **argv);      // apps/cmd_info.c
int cmd_init(int argc, char **argv);      // apps/cmd_init.c
int cmd_eval(int argc, char **argv);      // apps/cmd_eval.c
int cmd_train(int argc, char **argv);     // apps/cmd_train.c
int cmd_verify(int argc, char **argv);    // apps/cmd_verify.c
int cmd_generate(int argc, char **argv);  // apps/cmd_generate.c
int cmd_import(int argc, char **argv);    // apps/cmd_import.c
int cmd_export(int argc, char **argv);    // apps/cmd_export.c
int cmd_quantize(int argc, char **argv);  // apps/cmd_quantize.c
int cmd_synth(int argc, char **argv);     // apps/cmd_synth.c
int cmd_convert(int argc, char **argv);   // apps/cmd_convert.c
int cmd_serve(int argc, char **argv);     // apps/cmd_serve.c
int cmd_train_drafter(int argc, char **argv);  // apps/cmd_train_drafter.c

#endif
