// Finds and loads the encoder plugin (libnifc_encoder.so) at run time.
#ifndef NIFC_TOOLS_NIFC_ENCODER_LOADER_H_
#define NIFC_TOOLS_NIFC_ENCODER_LOADER_H_

#include "codec/encoder/plugin_api.h"
#include "format/status.h"

namespace nifc {

// Looks in $NIFC_ENCODER_PLUGIN, next to the running executable, and in
// ../lib/nifc/ relative to it.  The library stays loaded for the process's
// lifetime.  Errors: kUnsupported with the places tried and dlerror()'s text.
StatusOr<const EncoderApi*> load_encoder();

}  // namespace nifc

#endif  // NIFC_TOOLS_NIFC_ENCODER_LOADER_H_
