#include "core/engine/chunk_layout.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace curvefit {

ChunkLayout::ChunkLayout(std::size_t m, std::size_t chunk_rows, const std::vector<std::size_t>& file_rows, int ranks)
    : m_(m) {
  if (ranks < 1) throw std::invalid_argument("chunk layout: no ranks");
  chunk_rows_ = std::max<std::size_t>(1, std::min(chunk_rows, m));
  // A file of a full round of slots (kMaxSlotsPerSegment chunks) or more is a segment of its own;
  // consecutive smaller files share one until it holds a full round, so that a streamed pass over
  // many small files still has chunks of many slots in flight.
  std::vector<std::size_t> sizes;
  std::vector<std::size_t> files_per_segment;
  const std::size_t full_round = kMaxSlotsPerSegment * chunk_rows_;
  bool open = false;  // the last segment is a group of small files that takes more
  for (std::size_t rows : file_rows.empty() ? std::vector<std::size_t>{m} : file_rows) {
    if (open && rows < full_round) {
      sizes.back() += rows;
      ++files_per_segment.back();
    } else {
      sizes.push_back(rows);
      files_per_segment.push_back(1);
    }
    open = sizes.back() < full_round;
    file_segment_.push_back(sizes.size() - 1);
  }
  std::vector<std::size_t> kept(sizes.size(), 0);  // the index among non-empty segments
  std::size_t row = 0;
  for (std::size_t g = 0; g < sizes.size(); ++g) {
    const std::size_t rows = sizes[g];
    kept[g] = segments_.size();
    if (rows == 0) continue;
    Segment s;
    s.files = files_per_segment[g];
    s.first_row = row;
    s.rows = rows;
    s.first_chunk = chunks_;
    s.chunks = (rows + chunk_rows_ - 1) / chunk_rows_;
    s.first_slot = slots_;
    s.slots = std::min(kMaxSlotsPerSegment, s.chunks);
    segments_.push_back(s);
    row += rows;
    chunks_ += s.chunks;
    slots_ += s.slots;
  }
  for (std::size_t& g : file_segment_) g = kept[g];  // an empty file's segment: the next non-empty one
  if (row != m)
    throw std::invalid_argument("chunk layout: the segments hold " + std::to_string(row) + " rows, the data " +
                                std::to_string(m));
  const auto k = static_cast<std::size_t>(ranks);
  std::size_t begin = 0;
  for (std::size_t r = 0; r < k; ++r) {
    // Never before the last rank's start: a cut moved to a segment's border may pass the next
    // rank's cut when single slots hold more than a share.
    const std::size_t end = std::max(begin, first_slot_of_rank(r + 1, k));
    shares_.push_back(make_share(begin, end));
    begin = end;
  }
}

std::size_t ChunkLayout::segment_of_chunk(std::size_t c) const {
  const auto it = std::upper_bound(segments_.begin(), segments_.end(), c,
                                   [](std::size_t chunk, const Segment& s) { return chunk < s.first_chunk; });
  return static_cast<std::size_t>(it - segments_.begin()) - 1;
}

std::size_t ChunkLayout::segment_of_slot(std::size_t slot) const {
  const auto it = std::upper_bound(segments_.begin(), segments_.end(), slot,
                                   [](std::size_t s, const Segment& seg) { return s < seg.first_slot; });
  return static_cast<std::size_t>(it - segments_.begin()) - 1;
}

ChunkLayout::Chunk ChunkLayout::chunk(std::size_t c) const {
  const Segment& s = segments_[segment_of_chunk(c)];
  const std::size_t j = c - s.first_chunk;
  const std::size_t begin = j * chunk_rows_;
  return {s.first_row + begin, std::min(chunk_rows_, s.rows - begin), s.first_slot + j % s.slots};
}

// Chunks folded by the slots before global slot s: a segment's first (chunks mod slots) slots hold
// one chunk more than the others (the last, partial round).
std::size_t ChunkLayout::chunks_before_slot(std::size_t slot) const {
  if (slot >= slots_) return chunks_;
  const Segment& s = segments_[segment_of_slot(slot)];
  const std::size_t within = slot - s.first_slot;
  return s.first_chunk + within * (s.chunks / s.slots) + std::min(within, s.chunks % s.slots);
}

// The first slot of rank r of k: the last slot with at most r C / k chunks before it, or the
// border of a segment if one lies within the slack of a share from that target.
std::size_t ChunkLayout::first_slot_of_rank(std::size_t r, std::size_t k) const {
  if (r == 0) return 0;
  if (r >= k) return slots_;
  // chunks_before(s) * k <= chunks * r, exact in integers; chunks_before grows with s.
  std::size_t lo = 0, hi = slots_;
  while (lo < hi) {
    const std::size_t mid = (lo + hi + 1) / 2;
    if (chunks_before_slot(mid) * k <= chunks_ * r) lo = mid;
    else hi = mid - 1;
  }
  const double target = static_cast<double>(chunks_) * static_cast<double>(r) / static_cast<double>(k);
  const double slack = kWholeSegmentSlack * static_cast<double>(chunks_) / static_cast<double>(k);
  std::size_t best = lo;
  double best_distance = slack;
  const auto after = std::lower_bound(segments_.begin(), segments_.end(), target,
                                      [](const Segment& s, double t) { return static_cast<double>(s.first_chunk) < t; });
  for (auto it = after == segments_.begin() ? after : after - 1; it != segments_.end() && it <= after; ++it) {
    if (it->first_slot == 0) continue;
    const double distance = std::abs(static_cast<double>(it->first_chunk) - target);
    if (distance <= best_distance) {
      best = it->first_slot;
      best_distance = distance;
    }
  }
  return best;
}

ChunkLayout::RankShare ChunkLayout::make_share(std::size_t slot_begin, std::size_t slot_end) const {
  RankShare share;
  share.slot_begin = slot_begin;
  share.slot_end = slot_end;
  if (slot_begin == slot_end) return share;
  for (std::size_t f = segment_of_slot(slot_begin); f < segments_.size(); ++f) {
    const Segment& s = segments_[f];
    if (s.first_slot >= slot_end) break;
    RankPart part;
    part.segment = f;
    part.slot_begin = std::max(slot_begin, s.first_slot) - s.first_slot;
    part.slot_end = std::min(slot_end, s.first_slot + s.slots) - s.first_slot;
    part.rows = {s.first_row + part.slot_begin * chunk_rows_, (part.slot_end - part.slot_begin) * chunk_rows_,
                 s.slots * chunk_rows_, s.first_row + s.rows};
    const std::size_t rounds = s.chunks / s.slots, extra = s.chunks % s.slots;
    const auto slot_chunks = [&](std::size_t within) { return within * rounds + std::min(within, extra); };
    part.local_chunks = slot_chunks(part.slot_end) - slot_chunks(part.slot_begin);
    part.local_first_row = share.rows;
    part.local_first_chunk = share.chunks;
    share.rows += part.rows.rows();
    share.chunks += part.local_chunks;
    share.parts.push_back(part);
  }
  return share;
}

int ChunkLayout::owner_of_slot(std::size_t s) const {
  const auto it = std::upper_bound(shares_.begin(), shares_.end(), s,
                                   [](std::size_t slot, const RankShare& share) { return slot < share.slot_end; });
  return it == shares_.end() ? -1 : static_cast<int>(it - shares_.begin());
}

const ChunkLayout::RankPart& ChunkLayout::part_of_local_chunk(int rank, std::size_t local) const {
  const std::vector<RankPart>& parts = share(rank).parts;
  const auto it = std::upper_bound(parts.begin(), parts.end(), local,
                                   [](std::size_t l, const RankPart& p) { return l < p.local_first_chunk; });
  return *(it - 1);
}

std::size_t ChunkLayout::global_chunk(int rank, std::size_t local) const {
  const RankPart& part = part_of_local_chunk(rank, local);
  const Segment& s = segments_[part.segment];
  const std::size_t l = local - part.local_first_chunk, width = part.slot_end - part.slot_begin;
  return s.first_chunk + (l / width) * s.slots + part.slot_begin + l % width;
}

std::size_t ChunkLayout::local_row(int rank, std::size_t c) const {
  const std::size_t f = segment_of_chunk(c);
  const Segment& s = segments_[f];
  for (const RankPart& part : share(rank).parts) {
    if (part.segment != f) continue;
    const std::size_t j = c - s.first_chunk, width = part.slot_end - part.slot_begin;
    const std::size_t l = (j / s.slots) * width + j % s.slots - part.slot_begin;
    return part.local_first_row + l * chunk_rows_;
  }
  throw std::logic_error("chunk layout: a chunk of another rank");
}

std::vector<RowPattern> ChunkLayout::patterns(int rank) const {
  std::vector<RowPattern> out;
  for (const RankPart& part : share(rank).parts) out.push_back(part.rows);
  return out;
}

std::vector<std::pair<std::size_t, std::size_t>> ChunkLayout::blocks(int rank) const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (const RankPart& part : share(rank).parts) {
    const RowPattern& p = part.rows;
    for (std::size_t begin = p.first; begin < p.end; begin += p.period)
      out.emplace_back(begin, std::min(p.block, p.end - begin));
  }
  return out;
}

bool ChunkLayout::operator==(const ChunkLayout& other) const {
  if (m_ != other.m_ || chunk_rows_ != other.chunk_rows_ || segments_.size() != other.segments_.size() ||
      shares_.size() != other.shares_.size())
    return false;
  for (std::size_t f = 0; f < segments_.size(); ++f)
    if (segments_[f].rows != other.segments_[f].rows) return false;
  for (std::size_t r = 0; r < shares_.size(); ++r)
    if (shares_[r].slot_begin != other.shares_[r].slot_begin || shares_[r].slot_end != other.shares_[r].slot_end)
      return false;
  return true;
}

}  // namespace curvefit
