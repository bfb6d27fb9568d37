#include "memory/system_probe.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include "memory/size.h"

namespace curvefit {

namespace {

namespace fs = std::filesystem;

// cgroup v1 writes "no limit" as LONG_MAX rounded down to a page (9223372036854771712); anything
// this large is no limit at all.
constexpr std::uint64_t kNoLimitThreshold = std::uint64_t{1} << 62;

// `absolute` is a path as the kernel prints it ("/proc/meminfo"); it is looked up below `root`.
fs::path under(const fs::path& root, std::string_view absolute) {
  while (!absolute.empty() && absolute.front() == '/') absolute.remove_prefix(1);
  return absolute.empty() ? root : root / fs::path(absolute);
}

std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end == text.data()) return std::nullopt;
  return value;
}

// A cgroup limit file: "max" (v2) or a huge number (v1) is no limit (nullopt); unreadable too.
std::optional<std::uint64_t> read_limit(const fs::path& path) {
  const auto text = read_text(path);
  if (!text || text->rfind("max", 0) == 0) return std::nullopt;
  const auto value = parse_u64(*text);
  if (!value || *value >= kNoLimitThreshold) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> read_number(const fs::path& path) {
  const auto text = read_text(path);
  return text ? parse_u64(*text) : std::nullopt;
}

// "Key:   123 kB" lines of /proc/meminfo and /proc/self/status, in bytes.
std::optional<std::uint64_t> kib_field(const std::string& text, std::string_view key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ':') {
      const auto value = parse_u64(std::string_view(line).substr(key.size() + 1));
      if (value) return *value * 1024;
    }
  }
  return std::nullopt;
}

// "key value" lines of a cgroup memory.stat.
std::optional<std::uint64_t> stat_field(const fs::path& path, std::string_view key) {
  const auto text = read_text(path);
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ' ')
      return parse_u64(std::string_view(line).substr(key.size() + 1));
  }
  return std::nullopt;
}

// The soft limit of one /proc/self/limits row ("Max address space  unlimited  unlimited  bytes").
std::optional<std::uint64_t> rlimit_field(const std::string& text, std::string_view row) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(row, 0) != 0) continue;
    std::istringstream fields(line.substr(row.size()));
    std::string soft;
    fields >> soft;
    if (soft == "unlimited") return std::nullopt;
    const auto value = parse_u64(soft);
    if (!value || *value >= kNoLimitThreshold) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

// mountinfo escapes blanks in paths as octal (\040).
std::string unescape_octal(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size()) {
      const std::string_view digits = text.substr(i + 1, 3);
      if (digits.size() == 3 &&
          std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out +=
            static_cast<char>((digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0'));
        i += 3;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

struct Mount {
  std::string root;         // the path inside the hierarchy that is mounted ("/" usually)
  std::string mount_point;  // where it is mounted
};

// The mount of the cgroup2 hierarchy (`v2`) or of the v1 hierarchy carrying the memory controller.
std::optional<Mount> find_cgroup_mount(const std::string& mountinfo, bool v2) {
  std::istringstream lines(mountinfo);
  for (std::string line; std::getline(lines, line);) {
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream before(line.substr(0, dash));
    std::istringstream after(line.substr(dash + 3));
    std::string id, parent, device, root, mount_point, fs_type, source, super_options;
    before >> id >> parent >> device >> root >> mount_point;
    after >> fs_type >> source >> super_options;
    if (v2 ? fs_type != "cgroup2" : fs_type != "cgroup") continue;
    if (!v2) {
      std::istringstream options(super_options);
      bool has_memory = false;
      for (std::string option; std::getline(options, option, ',');)
        has_memory |= option == "memory";
      if (!has_memory) continue;
    }
    return Mount{unescape_octal(root), unescape_octal(mount_point)};
  }
  return std::nullopt;
}

// The cgroup path of this process for the v2 hierarchy ("0::/path") or the v1 memory controller.
std::optional<std::string> find_cgroup_path(const std::string& cgroup_file, bool v2) {
  std::istringstream lines(cgroup_file);
  for (std::string line; std::getline(lines, line);) {
    const std::size_t first = line.find(':');
    const std::size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string id = line.substr(0, first);
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (v2) {
      if (id == "0" && controllers.empty()) return path;
      continue;
    }
    std::istringstream names(controllers);
    for (std::string name; std::getline(names, name, ',');)
      if (name == "memory") return path;
  }
  return std::nullopt;
}

// One source's view: its limit and what it leaves available.
struct Candidate {
  std::string source;
  std::uint64_t limit;
  std::uint64_t available;
};

std::uint64_t saturating_sub(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }

// Reads the cgroup (v2 or v1) limit of this process. The limit is the smallest over the cgroup and
// its ancestors up to the mount, since a parent's limit binds its children too.
std::optional<Candidate> probe_cgroup(const fs::path& root, const std::string& cgroup_file,
                                      const std::string& mountinfo, bool v2,
                                      std::vector<std::string>& notes) {
  const char* label = v2 ? "cgroup v2" : "cgroup v1";
  const auto path = find_cgroup_path(cgroup_file, v2);
  const auto mount = find_cgroup_mount(mountinfo, v2);
  if (!path || !mount) return std::nullopt;
  // The cgroup path is relative to the hierarchy's root; the mount may show only a subtree.
  std::string relative = *path;
  if (mount->root != "/" && relative.rfind(mount->root, 0) == 0)
    relative.erase(0, mount->root.size());
  const fs::path mount_dir = under(root, mount->mount_point);
  fs::path dir = under(mount_dir, relative);
  if (!fs::exists(dir)) {
    notes.push_back(std::string(label) + " directory " + dir.string() + " not found");
    return std::nullopt;
  }
  const fs::path leaf = dir;
  const std::vector<std::string> limit_files =
      v2 ? std::vector<std::string>{"memory.max", "memory.high"}
         : std::vector<std::string>{"memory.limit_in_bytes"};
  std::optional<std::uint64_t> limit;
  for (;;) {
    for (const std::string& file : limit_files) {
      const auto value = read_limit(dir / file);
      if (value && (!limit || *value < *limit)) limit = value;
    }
    // Stop at the hierarchy's mount: above it are not cgroups.
    if (dir == mount_dir || dir.string().size() <= mount_dir.string().size()) break;
    dir = dir.parent_path();
  }
  if (!limit) {
    notes.push_back(std::string(label) + " " + *path + ": no memory limit");
    return std::nullopt;
  }
  const auto usage = read_number(leaf / (v2 ? "memory.current" : "memory.usage_in_bytes"));
  // The kernel reclaims inactive file cache before it reaches the limit: it does not count.
  const auto inactive_file =
      stat_field(leaf / "memory.stat", v2 ? "inactive_file" : "total_inactive_file");
  const std::uint64_t used = saturating_sub(usage.value_or(0), inactive_file.value_or(0));
  notes.push_back(std::string(label) + " " + *path + ": limit " + format_size(*limit) +
                  ", in use " + format_size(used));
  return Candidate{label, *limit, saturating_sub(*limit, used)};
}

}  // namespace

SystemProbe::SystemProbe(std::filesystem::path root) : root_(std::move(root)) {}

MemorySnapshot SystemProbe::snapshot() const {
  MemorySnapshot snapshot;
  std::vector<Candidate> candidates;

  const auto status = read_text(under(root_, "/proc/self/status"));
  if (status) {
    snapshot.process_rss_bytes = kib_field(*status, "VmRSS").value_or(0);
    snapshot.process_peak_bytes = kib_field(*status, "VmHWM").value_or(0);
  } else {
    snapshot.notes.push_back("cannot read /proc/self/status: process RSS unknown");
  }

  if (const auto meminfo = read_text(under(root_, "/proc/meminfo"))) {
    const auto total = kib_field(*meminfo, "MemTotal");
    auto available = kib_field(*meminfo, "MemAvailable");
    if (!available) {
      // Kernels before 3.14 have no MemAvailable: free plus page cache is the usual estimate.
      const auto free = kib_field(*meminfo, "MemFree");
      if (free)
        available = *free + kib_field(*meminfo, "Cached").value_or(0) +
                    kib_field(*meminfo, "Buffers").value_or(0);
    }
    if (total && available) {
      snapshot.total_bytes = *total;
      candidates.push_back({"meminfo", *total, std::min(*available, *total)});
    } else {
      snapshot.notes.push_back("/proc/meminfo lacks MemTotal or MemAvailable");
    }
  } else {
    snapshot.notes.push_back("cannot read /proc/meminfo");
  }

  const auto cgroup_file = read_text(under(root_, "/proc/self/cgroup"));
  const auto mountinfo = read_text(under(root_, "/proc/self/mountinfo"));
  if (cgroup_file && mountinfo) {
    for (bool v2 : {true, false})
      if (auto candidate = probe_cgroup(root_, *cgroup_file, *mountinfo, v2, snapshot.notes))
        candidates.push_back(std::move(*candidate));
  } else {
    snapshot.notes.push_back(
        "cannot read /proc/self/cgroup or /proc/self/mountinfo: cgroup limits unknown");
  }

  if (const auto limits = read_text(under(root_, "/proc/self/limits"))) {
    if (const auto as = rlimit_field(*limits, "Max address space")) {
      const std::uint64_t used = status ? kib_field(*status, "VmSize").value_or(0) : 0;
      candidates.push_back({"rlimit", *as, saturating_sub(*as, used)});
      snapshot.notes.push_back("RLIMIT_AS " + format_size(*as) + ", address space in use " +
                               format_size(used));
    }
    if (const auto data = rlimit_field(*limits, "Max data size")) {
      const std::uint64_t used = status ? kib_field(*status, "VmData").value_or(0) : 0;
      candidates.push_back({"rlimit", *data, saturating_sub(*data, used)});
      snapshot.notes.push_back("RLIMIT_DATA " + format_size(*data) + ", data segment in use " +
                               format_size(used));
    }
  }

  if (candidates.empty()) {
    snapshot.total_bytes = snapshot.total_bytes ? snapshot.total_bytes : kFallbackBytes;
    snapshot.available_bytes = kFallbackBytes;
    snapshot.limit_bytes = kFallbackBytes;
    snapshot.limit_source = "fallback";
    snapshot.notes.push_back("no memory information readable; assuming " +
                             format_size(kFallbackBytes));
    return snapshot;
  }
  // The smallest available figure wins; on a tie the tighter limit names the source.
  const auto binding = std::min_element(
      candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        return a.available != b.available ? a.available < b.available : a.limit < b.limit;
      });
  if (snapshot.total_bytes == 0) snapshot.total_bytes = binding->limit;
  snapshot.available_bytes = binding->available;
  snapshot.limit_bytes = binding->limit;
  snapshot.limit_source = binding->source;
  return snapshot;
}

namespace {
std::uint64_t own_status_field(std::string_view key) {
  const auto status = read_text("/proc/self/status");
  return status ? kib_field(*status, key).value_or(0) : 0;
}
}  // namespace

std::uint64_t current_rss_bytes() { return own_status_field("VmRSS"); }
std::uint64_t peak_rss_bytes() { return own_status_field("VmHWM"); }

}  // namespace curvefit
