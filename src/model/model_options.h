// The model-size options shared by every program that builds a model: --preset, then any of
// --enc --enc-layers --z --decoder --cond --cond-layers --dec --dec-layers --bars --free-bits
// --beta --beta-rate --sampling-rate on top of it.
#pragma once

#include <boost/program_options.hpp>

#include "model/config.h"

namespace mvae::model {

boost::program_options::options_description model_options_description();
// The preset named by --preset (or `default_preset`), with every size option the user gave.
ModelConfig resolve_model_config(const boost::program_options::variables_map& vm, const std::string& default_preset);

}  // namespace mvae::model
