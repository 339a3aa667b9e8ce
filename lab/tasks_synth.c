/* lab/tasks_synth.c — further synthetic tasks (selective copying, induction heads, MQAR, ...). */
#include "lab/tasks.h"

const sl_task_entry sl_tasks_synthetic[] = {
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
