#pragma once
// Where this process's memory cgroup lives: the v1 memory hierarchy if mounted, else cgroup2.
// Parsed from /proc independently of SystemProbe, so that tests can check the probe against it
// and create child cgroups under it.
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace curvefit::testing {

struct OwnCgroup {
  std::string directory;
  bool v2 = false;
};

inline std::optional<OwnCgroup> own_memory_cgroup() {
  std::ifstream cgroups("/proc/self/cgroup");
  std::string v1_path, v2_path;
  for (std::string line; std::getline(cgroups, line);) {
    const auto first = line.find(':'), second = line.find(':', first + 1);
    const std::string controllers = line.substr(first + 1, second - first - 1);
    if (("," + controllers + ",").find(",memory,") != std::string::npos) v1_path = line.substr(second + 1);
    if (line.rfind("0::", 0) == 0) v2_path = line.substr(3);
  }
  std::ifstream mounts("/proc/self/mountinfo");
  std::string v1_mount, v2_mount;
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, mount_point;
    fields >> id >> parent >> device >> root >> mount_point;
    const auto dash = line.find(" - ");
    if (dash == std::string::npos || root != "/") continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string type, source, options;
    tail >> type >> source >> options;
    if (type == "cgroup" && ("," + options + ",").find(",memory,") != std::string::npos) v1_mount = mount_point;
    if (type == "cgroup2") v2_mount = mount_point;
  }
  if (!v1_path.empty() && !v1_mount.empty()) return OwnCgroup{v1_mount + v1_path, false};
  if (!v2_path.empty() && !v2_mount.empty()) return OwnCgroup{v2_mount + v2_path, true};
  return std::nullopt;
}

}  // namespace curvefit::testing
