/* src/cmd_scale.c — placeholder until the subcommand is written; it fails honestly. */
#include "src/cli.h"

int cmd_scale(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_fail("'seqlab scale' is not implemented yet");
}
