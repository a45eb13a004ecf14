/* nif2ppm: decodes a .nif file to a binary PPM (RGB) or PGM (gray) through the
 * installed nifc decoder library. Alpha, if any, is dropped.
 *   nif2ppm IN.nif OUT.ppm [WIDTH HEIGHT]
 * Build: cc nif2ppm.c $(pkg-config --cflags --libs nifc-decoder) */
#include <nifc/decode.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  if (argc != 3 && argc != 5) {
    fprintf(stderr, "usage: %s IN.nif OUT.ppm [WIDTH HEIGHT]\n", argv[0]);
    return 2;
  }
  FILE* in = fopen(argv[1], "rb");
  if (!in) {
    perror(argv[1]);
    return 1;
  }
  fseek(in, 0, SEEK_END);
  long size = ftell(in);
  fseek(in, 0, SEEK_SET);
  unsigned char* data = malloc(size > 0 ? (size_t)size : 1);
  if (!data || fread(data, 1, (size_t)size, in) != (size_t)size) {
    fprintf(stderr, "%s: read error\n", argv[1]);
    return 1;
  }
  fclose(in);

  NifcInfo info;
  NifcStatus s = nifc_get_info(data, (size_t)size, &info);
  if (s != NIFC_OK) {
    fprintf(stderr, "%s: %s: %s\n", argv[1], nifc_status_string(s), nifc_last_error());
    return 1;
  }
  NifcDecoderOptions opt;
  nifc_init_decoder_options(&opt);
  if (argc == 5) {
    opt.width = (uint32_t)strtoul(argv[3], NULL, 10);
    opt.height = (uint32_t)strtoul(argv[4], NULL, 10);
  }
  uint32_t w, h;
  s = nifc_output_size(data, (size_t)size, &opt, &w, &h);
  if (s != NIFC_OK) {
    fprintf(stderr, "%s: %s\n", argv[1], nifc_last_error());
    return 1;
  }
  size_t stride = (size_t)w * info.channels;
  unsigned char* pixels = malloc(stride * h);
  s = nifc_decode_ex(data, (size_t)size, &opt, pixels, stride, stride * h);
  if (s != NIFC_OK) {
    fprintf(stderr, "%s: %s\n", argv[1], nifc_last_error());
    return 1;
  }
  int color = info.channels >= 3;
  FILE* out = fopen(argv[2], "wb");
  if (!out) {
    perror(argv[2]);
    return 1;
  }
  fprintf(out, "P%c\n%u %u\n255\n", color ? '6' : '5', w, h);
  for (size_t i = 0; i < (size_t)w * h; ++i) {
    fwrite(pixels + i * info.channels, 1, color ? 3 : 1, out);
  }
  if (fclose(out) != 0) {
    perror(argv[2]);
    return 1;
  }
  free(pixels);
  free(data);
  printf("%s: %ux%u, %u channels, %llu parameters -> %s\n", argv[1], w, h, info.channels,
         (unsigned long long)info.parameters, argv[2]);
  return 0;
}
