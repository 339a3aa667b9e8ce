/* src/cmd_list.c — `seqlab list`: models with their keys and defaults, and tasks. */
#include "lab/registry.h"
#include "lab/tasks.h"
#include "src/cli.h"

#include <string.h>

static const char USAGE[] = "usage: seqlab list [--models | --mixers | --tasks] [--names]\n"
                            "  Lists every model (family, spec keys with type, default and meaning) and every task.\n"
                            "  --models / --mixers / --tasks   only that part (mixers: models usable as lm:mixer=NAME)\n"
                            "  --names                         names only, one per line (for scripts)\n";

static void print_keys(const sl_spec_key *k)
{
    for (; k && k->name; k++)
        printf("      %-16s %-6s default %-10s %s\n", k->name,
               k->type == 'i'   ? "int"
               : k->type == 'f' ? "real"
               : k->type == 'b' ? "bool"
                                : "string",
               *k->def ? k->def : "\"\"", k->help ? k->help : "");
}

int cmd_list(int argc, char **argv)
{
    if (cli_wants_help(argc, argv, USAGE)) return 0;
    int models = 0, mixers = 0, tasks = 0, names = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--models")) models = 1;
        else if (!strcmp(argv[i], "--mixers")) mixers = 1;
        else if (!strcmp(argv[i], "--tasks")) tasks = 1;
        else if (!strcmp(argv[i], "--names")) names = 1;
        else {
            static const char *const flags[] = {"models", "mixers", "tasks", "names", NULL};
            return cli_usage(USAGE, "unknown argument '%s'%s", argv[i], cli_did_you_mean(argv[i], "--", flags));
        }
    }
    if (!models && !mixers && !tasks) models = tasks = 1;
    const sl_model_entry *e;
    if (models || mixers) {
        if (!names) printf("models (spec: NAME:key=value,...)\n");
        for (int i = 0; (e = sl_registry_entry(i)); i++) {
            if (mixers && !models && !e->is_mixer) continue;
            if (names) {
                printf("%s\n", e->name);
                continue;
            }
            printf("  %-10s [%s%s] %s\n", e->name, e->family, e->is_mixer ? ", mixer" : "", e->help);
            print_keys(e->keys);
        }
    }
    if (tasks) {
        if (!names) printf("tasks (spec: NAME:key=value,...)\n");
        const sl_task_entry *t;
        for (int i = 0; (t = sl_task_entry_at(i)); i++) {
            if (names) {
                printf("%s\n", t->name);
                continue;
            }
            printf("  %-10s %s\n", t->name, t->help);
            print_keys(t->keys);
        }
    }
    return 0;
}
