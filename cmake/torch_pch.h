// Precompiled for every target that uses LibTorch (see clipmind_use_torch in ClipmindBuild.cmake).
#pragma once
#include <ATen/ATen.h>
#include <torch/types.h>
