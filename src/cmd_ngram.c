/* src/cmd_ngram.c — placeholder until the subcommand is written; it fails honestly. */
#include "src/cli.h"

int cmd_ngram(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_fail("'seqlab ngram' is not implemented yet");
}
