// Zip archives for Keras's .keras files (models/keras_archive.h), over Debian's libzip.
// Internal to models/: no other layer sees a libzip type.
//
// Reading checks the archive's consistency when opening it, reads each member with the
// compression method its header names (stored, deflate, or any other libzip supports), and
// bounds the size a member claims before allocating: at most the caller's limit, and for a
// compressed member at most kMaxZipRatio times its compressed size. Every failure is an
// alz::Error naming the archive, the member and the reason.
//
//   ZipReader zip("model.keras");
//   std::string config = zip.read("config.json", 64 << 20);
//   std::string archive = make_zip({{"metadata.json", meta}, {"config.json", config}});   // stored, as Keras
//
// Tested through tests/test_keras_files.cpp and tests/test_keras_bad_input.cpp.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace alz {

constexpr int64_t kMaxZipRatio = 1100;  // deflate cannot do better than about 1032:1

class ZipReader {
 public:
  explicit ZipReader(const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> members() const;
  std::string member_list() const;  // "a, b, c" or "none", for messages
  bool has(const std::string& member) const;
  // The member's whole content; throws when it is absent, claims more than `limit` bytes,
  // uses a compression method libzip cannot read, or is damaged (CRC, short read).
  std::string read(const std::string& member, int64_t limit) const;

 private:
  std::string path_;
  struct Archive;
  std::unique_ptr<Archive> archive_;
};

struct ZipMember {
  std::string name;
  std::string bytes;
};

// The bytes of a zip archive holding `members` in order, stored uncompressed (as Keras writes
// .keras files); written to disk by the caller through AtomicFile.
std::string make_zip(const std::vector<ZipMember>& members, const std::string& name_for_messages);

}  // namespace alz
