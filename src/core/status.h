// Moved to the counted decoder (src/gpk); kept so existing includes work.
#pragma once
#include "gpk/status.h"
