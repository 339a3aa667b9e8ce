/* src/cmd_hippo.c — placeholder until the subcommand is written; it fails honestly. */
#include "src/cli.h"

int cmd_hippo(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_fail("'seqlab hippo' is not implemented yet");
}
