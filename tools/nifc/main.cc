// nifc: the command-line tool.  One file per command (info.cc, decode.cc, encode.cc,
// applications.cc); this one declares them and dispatches.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "format/nif_format.h"
#include "tools/io/file_io.h"
#include "tools/nifc/cli.h"

namespace nifc {
namespace cli {
namespace {

int run(int argc, char** argv) {
  CLI::App app{"nifc: a neural image codec (coordinate networks fitted to one image)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("nifc ") + std::to_string(kNifVersionMajor) + "." +
                                        std::to_string(kNifVersionMinor) + " format");

  InfoArgs info_args;
  CLI::App* info = add_info_command(app, info_args);
  DecodeArgs decode_args;
  CLI::App* dec = add_decode_command(app, decode_args);
  EncodeArgs encode_args;
  CLI::App* enc = add_encode_command(app, encode_args);
  ApplicationArgs poisson_args, blend_args, inpaint_args;
  CLI::App* poi = add_poisson_command(app, poisson_args);
  CLI::App* ble = add_blend_command(app, blend_args);
  CLI::App* inp = add_inpaint_command(app, inpaint_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& h) {
    return app.exit(h);
  } catch (const CLI::CallForVersion& v) {
    return app.exit(v);
  } catch (const CLI::ParseError& err) {
    std::fprintf(stderr, "nifc: %s\n", err.what());
    std::fprintf(stderr, "Run 'nifc --help' or 'nifc COMMAND --help' for usage.\n");
    return kExitUsage;
  }
  install_cleanup_signal_handlers();
  if (*info) return run_info(info_args);
  if (*dec) return run_decode(decode_args);
  if (*enc) return run_encode(enc, encode_args);
  if (*poi) return run_poisson(poisson_args);
  if (*ble) return run_blend(blend_args);
  if (*inp) return run_inpaint(inpaint_args);
  return kExitUsage;
}

}  // namespace
}  // namespace cli
}  // namespace nifc

int main(int argc, char** argv) { return nifc::cli::run(argc, argv); }
