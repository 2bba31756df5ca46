/* No operations table at all. */
#include "bad_common.h"

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "bad",
};
