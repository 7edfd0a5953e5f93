// Zip reading and writing over libzip (models/zip_archive.h).
#include "models/zip_archive.h"

#include <zip.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"

namespace alz {

namespace {

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

std::string method_name(int32_t method) {
  switch (method) {
    case ZIP_CM_STORE: return "stored";
    case ZIP_CM_DEFLATE: return "deflate";
    case ZIP_CM_BZIP2: return "bzip2";
    case ZIP_CM_LZMA: return "lzma";
    case ZIP_CM_XZ: return "xz";
    default: return "method " + std::to_string(method);
  }
}

}  // namespace

struct ZipReader::Archive {
  zip_t* zip = nullptr;
};

ZipReader::ZipReader(const std::string& path) : path_(path), archive_(std::make_unique<Archive>()) {
  std::error_code ec;
  ALZ_CHECK(std::filesystem::is_regular_file(path, ec), path << ": no such file");
  int code = 0;
  archive_->zip = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  ALZ_CHECK(archive_->zip, path << ": not a readable zip archive (" << zip_error_text(code) << ")");
}

ZipReader::~ZipReader() {
  if (archive_->zip) zip_discard(archive_->zip);
}

std::vector<std::string> ZipReader::members() const {
  std::vector<std::string> names;
  zip_int64_t count = zip_get_num_entries(archive_->zip, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive_->zip, static_cast<zip_uint64_t>(i), 0);
    if (name) names.emplace_back(name);
  }
  return names;
}

std::string ZipReader::member_list() const {
  std::string list;
  for (const std::string& name : members()) {
    list += list.empty() ? "" : ", ";
    list += name;
  }
  return list.empty() ? std::string("none") : list;
}

bool ZipReader::has(const std::string& member) const { return zip_name_locate(archive_->zip, member.c_str(), 0) >= 0; }

std::string ZipReader::read(const std::string& member, int64_t limit) const {
  std::string where = path_ + ": member '" + member + "'";
  zip_int64_t index = zip_name_locate(archive_->zip, member.c_str(), 0);
  ALZ_CHECK(index >= 0, where << " is missing (members: " << member_list() << ")");
  zip_stat_t stat;
  zip_stat_init(&stat);
  ALZ_CHECK(zip_stat_index(archive_->zip, static_cast<zip_uint64_t>(index), 0, &stat) == 0,
            where << ": unreadable entry (" << zip_strerror(archive_->zip) << ")");
  ALZ_CHECK((stat.valid & ZIP_STAT_SIZE) && (stat.valid & ZIP_STAT_COMP_SIZE) && (stat.valid & ZIP_STAT_COMP_METHOD),
            where << ": its entry lacks sizes or method");
  ALZ_CHECK(zip_compression_method_supported(stat.comp_method, 0),
            where << ": compressed with " << method_name(stat.comp_method) << ", which this libzip cannot read");
  // Bounds on what the entry claims, before allocating.
  ALZ_CHECK(stat.size <= static_cast<zip_uint64_t>(limit),
            where << ": claims " << stat.size << " bytes, more than the limit of " << limit << " bytes");
  std::error_code ec;
  uintmax_t file_size = std::filesystem::file_size(path_, ec);
  ALZ_CHECK(!ec && stat.comp_size <= file_size,
            where << ": claims " << stat.comp_size << " compressed bytes in a file of " << file_size << " bytes");
  if (stat.comp_method == ZIP_CM_STORE)
    ALZ_CHECK(stat.size == stat.comp_size,
              where << ": stored, but claims " << stat.size << " bytes in " << stat.comp_size << " bytes of data");
  else
    ALZ_CHECK(stat.size <= stat.comp_size * static_cast<zip_uint64_t>(kMaxZipRatio) + 1024,
              where << ": claims " << stat.size << " bytes from " << stat.comp_size << " compressed bytes (more than "
                    << kMaxZipRatio << ":1)");
  zip_file_t* file = zip_fopen_index(archive_->zip, static_cast<zip_uint64_t>(index), 0);
  ALZ_CHECK(file, where << ": cannot open (" << zip_strerror(archive_->zip) << ")");
  std::string bytes(static_cast<size_t>(stat.size), '\0');
  zip_uint64_t done = 0;
  while (done < stat.size) {
    zip_int64_t got = zip_fread(file, bytes.data() + done, stat.size - done);
    if (got <= 0) {
      std::string reason = got < 0 ? zip_file_strerror(file) : "the data ends early";
      zip_fclose(file);
      ALZ_FAIL(where << ": read " << done << " of " << stat.size << " bytes (" << reason << ")");
    }
    done += static_cast<zip_uint64_t>(got);
  }
  char extra;
  zip_int64_t more = zip_fread(file, &extra, 1);  // reaching the end checks the CRC
  std::string reason = more < 0 ? zip_file_strerror(file) : "";
  zip_fclose(file);
  ALZ_CHECK(more == 0, where << ": " << (more < 0 ? reason : "holds more data than its entry says"));
  return bytes;
}

std::string make_zip(const std::vector<ZipMember>& members, const std::string& name_for_messages) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
  ALZ_CHECK(buffer, name_for_messages << ": cannot start an archive (" << zip_error_strerror(&error) << ")");
  zip_t* zip = zip_open_from_source(buffer, ZIP_TRUNCATE, &error);
  if (!zip) {
    zip_source_free(buffer);
    ALZ_FAIL(name_for_messages << ": cannot start an archive (" << zip_error_strerror(&error) << ")");
  }
  zip_source_keep(buffer);  // still ours after zip_close, which writes the archive into it
  auto fail = [&](const std::string& what) {
    std::string reason = zip_strerror(zip);
    zip_discard(zip);
    zip_source_free(buffer);
    ALZ_FAIL(name_for_messages << ": " << what << " (" << reason << ")");
  };
  for (const ZipMember& member : members) {
    zip_source_t* source = zip_source_buffer(zip, member.bytes.data(), member.bytes.size(), 0);
    if (!source) fail("cannot add " + member.name);
    zip_int64_t index = zip_file_add(zip, member.name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      fail("cannot add " + member.name);
    }
    if (zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) != 0)
      fail("cannot store " + member.name);
  }
  if (zip_close(zip) != 0) fail("cannot write the archive");
  std::string bytes;
  if (zip_source_open(buffer) == 0) {
    zip_source_seek(buffer, 0, SEEK_END);
    zip_int64_t size = zip_source_tell(buffer);
    zip_source_seek(buffer, 0, SEEK_SET);
    bytes.resize(size > 0 ? static_cast<size_t>(size) : 0);
    zip_int64_t got = size > 0 ? zip_source_read(buffer, bytes.data(), bytes.size()) : 0;
    zip_source_close(buffer);
    if (got != size) bytes.clear();
  }
  zip_source_free(buffer);
  ALZ_CHECK(!bytes.empty(), name_for_messages << ": cannot read back the archive made in memory");
  return bytes;
}

}  // namespace alz
