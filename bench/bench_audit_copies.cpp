// The copy finder of `alz audit` measured on planted copies: recall per kind of copy, false
// pairs between different phantom subjects, and the time of the whole audit.
//
// It writes a dataset in the Kaggle V2 shape into --dir (kept, so `alz audit --data DIR` can be
// timed on it too):
//   val/<class>/s<subject>_<slice>.jpg      originals: --val-subjects subjects x --slices slices
//   train/<class>/s<subject>_<slice>.jpg    other subjects (--train-subjects): true negatives
//   train/<class>/copy_<kind>_<n>_of_s<subject>_<slice>.jpg
//                                           --per-kind copies of random originals for each kind
//                                           of data/copy_plant.h, 3-channel JPEG, quality 75..95
//   train/<class>/bulk_<n>_of_s<subject>_<slice>.jpg
//                                           --bulk "combined" copies (to reach a size for timing)
// Phantoms come from data/phantom.h (208x176, JPEG quality 92, severity by class). Then it runs
// audit_dataset on the folder (copy search, hashes and all), times it, and scores every copy
// pair reported: a planted copy paired with its own original is a hit; a pair of two different
// subjects is a false pair.
//
//   build/bench/bench_audit_copies --dir /tmp/planted --val-subjects 500 --train-subjects 500 --per-kind 100
//   (5,000 images: recall per kind, false pairs)
//   build/bench/bench_audit_copies --dir /tmp/planted40k --val-subjects 1000 --train-subjects 0
//       --per-kind 0 --bulk 36000                                             (40,000 images: time)
// Results go into bench/RESULTS.md and docs/audit.md.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "data/audit.h"
#include "data/copy_match.h"
#include "data/copy_plant.h"
#include "data/image.h"
#include "data/phantom.h"

namespace fs = std::filesystem;
using namespace alz::data;

namespace {

struct Planted {
  std::string path, kind;  // path relative to the root; kind "" for an original or a negative
  int subject = 0, slice = 0;
};

std::string image_name(int subject, int slice) { return "s" + std::to_string(subject) + "_" + std::to_string(slice); }

Image to_rgb(const Image& grey) {
  if (grey.channels == 3) return grey;
  Image rgb(grey.height, grey.width, 3);
  for (size_t i = 0; i < grey.pixels.size(); ++i)
    for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + size_t(c)] = grey.pixels[i];
  return rgb;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Recall and false pairs of the audit's copy finder on planted copies", "bench_audit_copies"};
  std::string dir;
  int val_subjects = 500, train_subjects = 500, slices = 4, per_kind = 100, bulk = 0;
  uint64_t seed = 11;
  bool reuse = false, tune = false;
  app.add_option("--dir", dir, "folder to write the planted dataset into")->required();
  app.add_option("--val-subjects", val_subjects, "subjects whose slices are the originals (val)");
  app.add_option("--train-subjects", train_subjects, "other subjects, in train (negatives)");
  app.add_option("--slices", slices, "slices per subject");
  app.add_option("--per-kind", per_kind, "planted copies of each kind");
  app.add_option("--bulk", bulk, "extra combined copies");
  app.add_option("--seed", seed, "phantom and transform seed");
  app.add_flag("--reuse", reuse, "audit an existing folder written with the same options");
  app.add_flag("--tune", tune, "print the scores of the planted copies the finder misses, and of negatives");
  CLI11_PARSE(app, argc, argv);
  const int64_t originals = int64_t(val_subjects) * slices;
  std::vector<Planted> plan;
  for (int s = 0; s < val_subjects + train_subjects; ++s)
    for (int k = 0; k < slices; ++k)
      plan.push_back({std::string(s < val_subjects ? "val/" : "train/") + kPhantomClassNames[size_t(s % 4)] + "/" +
                          image_name(s, k) + ".jpg",
                      "", s, k});
  uint64_t draw = seed * 1000003;
  auto next = [&] { return draw = draw * 6364136223846793005ull + 1442695040888963407ull; };
  auto plant = [&](const std::string& kind, const std::string& prefix, int n) {
    const int64_t source = int64_t((next() >> 33) % uint64_t(originals));
    const Planted& o = plan[size_t(source)];
    plan.push_back({std::string("train/") + kPhantomClassNames[size_t(o.subject % 4)] + "/" + prefix + "_" +
                        std::to_string(n) + "_of_" + image_name(o.subject, o.slice) + ".jpg",
                    kind, o.subject, o.slice});
  };
  for (const std::string& kind : copy_kinds())
    for (int n = 0; n < per_kind; ++n) plant(kind, "copy_" + kind, n);
  for (int n = 0; n < bulk; ++n) plant("combined", "bulk", n);
  std::printf("%zu images: %lld originals in val, %lld negatives in train, %zu copies in train\n", plan.size(),
              (long long)originals, (long long)(int64_t(train_subjects) * slices),
              plan.size() - size_t(val_subjects + train_subjects) * size_t(slices));

  auto planted_transform = [&](int64_t i) {
    return copy_kind_transform(plan[size_t(i)].kind, seed * 7919 + uint64_t(i));
  };
  if (!reuse) {
    auto t0 = std::chrono::steady_clock::now();
    fs::remove_all(dir);
    for (const char* split : {"val", "train"})
      for (const char* name : kPhantomClassNames) fs::create_directories(fs::path(dir) / split / name);
    // Originals and negatives first (the originals kept as saved, JPEG 92), then the copies.
    const int64_t n = int64_t(plan.size()), plain = int64_t(val_subjects + train_subjects) * slices;
    std::vector<Image> saved(static_cast<size_t>(originals));
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < plain; ++i) {
      const Planted& p = plan[size_t(i)];
      PhantomSubject subject = draw_phantom_subject(seed, p.subject, p.subject % 4);
      const std::string path = (fs::path(dir) / p.path).string();
      write_jpeg(path, render_phantom_slice(subject, p.slice, 208, 176), 92);
      if (i < originals) saved[size_t(i)] = decode_image_file(path);
    }
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = plain; i < n; ++i) {
      const Planted& p = plan[size_t(i)];
      const Image& original = saved[size_t(p.subject * slices + p.slice)];
      CopyTransform t = planted_transform(i);
      write_jpeg((fs::path(dir) / p.path).string(), to_rgb(apply_copy_transform(original, t)), 75 + int(i % 21));
    }
    std::printf("written in %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  if (tune) {
    // Per planted copy: its original's rank by centred grid score and registration scores.
    std::vector<CopySignature> sig(plan.size());
    const int64_t n = int64_t(plan.size());
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t i = 0; i < n; ++i)
      sig[size_t(i)] = copy_signature(decode_image_file((fs::path(dir) / plan[size_t(i)].path).string()));
    std::span<const CopySignature> refs(sig.data(), size_t(originals));
    const CenteredGrids center = center_grids(refs);
    std::vector<std::array<float, kGrid * kGrid>> grid;
    for (const CopySignature& g : sig) grid.push_back(centered_fine(g, center));
    auto score = [&](int64_t r, int64_t q, bool m) {
      float t = 0;
      for (int j = 0; j < kGrid; ++j)
        for (int x = 0; x < kGrid; ++x)
          t += grid[size_t(q)][size_t(j * kGrid + x)] * grid[size_t(r)][size_t(j * kGrid + (m ? kGrid - 1 - x : x))];
      return t;
    };
    for (int64_t i = originals; i < n; ++i) {
      const Planted& p = plan[size_t(i)];
      if (p.kind.empty()) continue;  // a negative has no original
      const CopySignature& q = sig[size_t(i)];
      int64_t truth = int64_t(p.subject) * slices + p.slice;
      float best_other = -2, true_fine = -2;
      int rank = 0;
      for (int64_t r = 0; r < originals; ++r)
        for (bool m : {false, true}) {
          float f = score(r, i, m);
          if (r == truth)
            true_fine = std::max(true_fine, f);
          else
            best_other = std::max(best_other, f);
        }
      for (int64_t r = 0; r < originals; ++r)
        for (bool m : {false, true})
          if (r != truth && score(r, i, m) > true_fine) ++rank;
      bool mirror = score(truth, i, true) > score(truth, i, false);
      Alignment a =
          align_thumbnails(refs[size_t(truth)].thumb, q.thumb, pose_affine(refs[size_t(truth)].pose, q.pose, mirror));
      // The fitted map in the two frames (Fr^-1 A Fq: diag(+-1, 1) when the frames agree) and
      // the query frame's origin error, in whitened units of the reference.
      const CopyPose &rp = refs[size_t(truth)].pose, &qp = q.pose;
      const double rdet = double(rp.frame[0]) * rp.frame[3] - double(rp.frame[1]) * rp.frame[2];
      const double ri[4] = {rp.frame[3] / rdet, -rp.frame[1] / rdet, -rp.frame[2] / rdet, rp.frame[0] / rdet};
      const double al[4] = {a.affine[0], a.affine[1], a.affine[3], a.affine[4]};
      double t1[4], fe[4];
      for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 2; ++c)
          t1[r * 2 + c] = al[r * 2] * qp.frame[size_t(c)] + al[r * 2 + 1] * qp.frame[size_t(2 + c)];
      for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 2; ++c) fe[r * 2 + c] = ri[r * 2] * t1[c] + ri[r * 2 + 1] * t1[2 + c];
      const double ox = a.affine[0] * qp.origin_x + a.affine[1] * qp.origin_y + a.affine[2] - rp.origin_x,
                   oy = a.affine[3] * qp.origin_x + a.affine[4] * qp.origin_y + a.affine[5] - rp.origin_y;
      const double eu = ri[0] * ox + ri[1] * oy, ev = ri[2] * ox + ri[3] * oy;
      if (rank > 1 || true_fine < 0.4f || a.detail < 0.86 || a.correlation < 0.95)
        std::printf("frame %-10s [%.2f %.2f; %.2f %.2f] origin %.2f %.2f\n", p.kind.c_str(), fe[0], fe[1], fe[2], fe[3],
                    eu, ev);
      if (rank > 1 || true_fine < 0.4f || a.detail < 0.86 || a.correlation < 0.95)
        std::printf(
            "tune %-10s fine %.3f rank %d other %.3f | detail %.3f corr %.3f overlap %.2f ok %d | angle ref %.1f copy "
            "%.1f sym %.2f %.2f | planted %s rotate %.1f zoom %.2f\n",
            p.kind.c_str(), true_fine, rank, best_other, a.detail, a.correlation, a.overlap, a.ok,
            refs[size_t(truth)].pose.angle * 57.3, q.pose.angle * 57.3, refs[size_t(truth)].pose.symmetry,
            q.pose.symmetry, planted_transform(i).mirror ? "mirror" : "plain", planted_transform(i).rotation_degrees,
            planted_transform(i).zoom);
    }
    return 0;
  }
  auto t0 = std::chrono::steady_clock::now();
  AuditReport report = audit_dataset(dir);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("audit of %zu images: %.1f s\n", report.files.size(), seconds);

  // Score: the planted entry of each file, by relative path.
  std::map<std::string, const Planted*> by_path;
  for (const Planted& p : plan) by_path[p.path] = &p;
  auto planted_of = [&](int64_t file) -> const Planted* {
    auto found = by_path.find(fs::relative(report.files[size_t(file)].path, dir).generic_string());
    return found == by_path.end() ? nullptr : found->second;
  };
  std::map<std::string, int> planted, hits;
  for (const Planted& p : plan)
    if (!p.kind.empty()) ++planted[p.kind];
  int false_pairs = 0, same_subject_other = 0;
  for (const AuditCopyPair& pair : report.copy_pairs) {
    const Planted *a = planted_of(pair.original), *b = planted_of(pair.copy);
    if (!a || !b) continue;
    if (a->subject != b->subject) {
      ++false_pairs;
      if (false_pairs <= 5)
        std::printf("  false pair: %s ~ %s (%s, detail %.3f)\n", a->path.c_str(), b->path.c_str(),
                    pair.description.c_str(), pair.detail);
    } else if (a->slice == b->slice && !b->kind.empty() && a->kind.empty()) {
      ++hits[b->kind];
    } else {
      ++same_subject_other;
    }
  }
  std::printf("%-12s %8s %8s %8s\n", "kind", "planted", "found", "recall");
  for (const std::string& kind : copy_kinds())
    if (planted[kind] > 0)
      std::printf("%-12s %8d %8d %7.1f%%\n", kind.c_str(), planted[kind], hits[kind],
                  100.0 * hits[kind] / planted[kind]);
  const int64_t queries = int64_t(report.files.size()) - originals;
  std::printf("false pairs (different subjects): %d of %lld train images (%.3f%%); other same-subject pairs: %d\n",
              false_pairs, (long long)queries, queries > 0 ? 100.0 * false_pairs / double(queries) : 0.0,
              same_subject_other);
  return 0;
}
