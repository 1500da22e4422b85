// The command-line wording of the model configuration, shared by every program that builds a
// model: --preset, then any of --enc --enc-layers --z --decoder --cond --cond-layers --dec
// --dec-layers --bars --free-bits --beta --beta-rate --sampling-rate --dropout-keep on top of
// it; ConfigError fields become option names here (model/ knows no command line).
#pragma once

#include <boost/program_options.hpp>

#include <string>

#include "model/config.h"

namespace mvae::cli {

boost::program_options::options_description model_options_description();
// The preset named by --preset (or `default_preset`), with every size option the user gave.
model::ModelConfig resolve_model_config(const boost::program_options::variables_map& vm,
                                        const std::string& default_preset);
// "--enc-layers" for the field "enc_layers" ("--beta" for max_beta): the wording of every program
// that takes the model options (run_program's `option_of`).
std::string option_name(const std::string& field);

}  // namespace mvae::cli
