#include "core/errors.h"

#include <new>

#include "memory/memory_manager.h"

namespace curvefit {

std::pair<int, std::string> classify_exception(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const UsageError& e) {
    return {kExitUsage, e.what()};
  } catch (const DataError& e) {
    return {kExitBadInput, e.what()};
  } catch (const ModelError& e) {
    return {kExitBadInput, e.what()};
  } catch (const MemoryError& e) {
    return {kExitMemory, e.what()};
  } catch (const IoError& e) {
    return {kExitIo, e.what()};
  } catch (const RankError& e) {
    return {e.exit_code(), e.what()};
  } catch (const std::bad_alloc&) {
    return {kExitMemory,
            "out of memory: an allocation failed; lower --memory-limit or --chunk-size, or use "
            "--mode stream"};
  } catch (const std::exception& e) {
    return {kExitBadInput, e.what()};
  } catch (...) {
    return {kExitBadInput, "unknown error"};
  }
}

}  // namespace curvefit
