/* src/cmd_w2v.c — placeholder until the subcommand is written; it fails honestly. */
#include "src/cli.h"

int cmd_w2v(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_fail("'seqlab w2v' is not implemented yet");
}
