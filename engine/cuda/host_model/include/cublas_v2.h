#pragma once

// Host model of cuBLAS (see cublas_api.h here).
#include "cublas_api.h"
