// Size parsing and formatting: decimal KB..TB and bare K..T, binary KiB..TiB, plain bytes, counts.
#include "memory/size.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace curvefit {
namespace {

TEST(ParseSize, DecimalUnitsArePowersOfTen) {
  EXPECT_EQ(parse_size("512MB"), 512'000'000u);
  EXPECT_EQ(parse_size("4GB"), 4'000'000'000u);
  EXPECT_EQ(parse_size("2KB"), 2'000u);
  EXPECT_EQ(parse_size("3TB"), 3'000'000'000'000u);
}

TEST(ParseSize, BareSuffixesAreDecimal) {
  EXPECT_EQ(parse_size("300M"), 300'000'000u);
  EXPECT_EQ(parse_size("7K"), 7'000u);
  EXPECT_EQ(parse_size("2G"), 2'000'000'000u);
  EXPECT_EQ(parse_size("1T"), 1'000'000'000'000u);
}

TEST(ParseSize, BinaryUnitsArePowersOfTwo) {
  EXPECT_EQ(parse_size("1KiB"), 1024u);
  EXPECT_EQ(parse_size("3MiB"), 3u * 1024 * 1024);
  EXPECT_EQ(parse_size("1.5GiB"), 1610612736u);  // 1.5 * 2^30
  EXPECT_EQ(parse_size("2TiB"), 2ull << 40);
}

TEST(ParseSize, PlainBytesFractionsExponentsCaseAndSpaces) {
  EXPECT_EQ(parse_size("123456"), 123456u);
  EXPECT_EQ(parse_size("1e8"), 100'000'000u);
  EXPECT_EQ(parse_size("100B"), 100u);
  EXPECT_EQ(parse_size("0.5KB"), 500u);
  EXPECT_EQ(parse_size("2.5e3MB"), 2'500'000'000u);
  EXPECT_EQ(parse_size("512mb"), 512'000'000u);
  EXPECT_EQ(parse_size("4gib"), 4ull << 30);
  EXPECT_EQ(parse_size(" 64 MB "), 64'000'000u);
  EXPECT_EQ(parse_size(".5GB"), 500'000'000u);
}

TEST(ParseSize, GarbageIsAnErrorNamingTheText) {
  for (const std::string bad :
       {"", "MB", "abc", "-5MB", "12XB", "1.5", "inf", "nan", "1e30GB", "4 G B", "0x10"}) {
    try {
      parse_size(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseCount, AcceptsIntegersAndScientificNotation) {
  EXPECT_EQ(parse_count("100000000"), 100'000'000u);
  EXPECT_EQ(parse_count("1e8"), 100'000'000u);
  EXPECT_EQ(parse_count("2.5e3"), 2'500u);
  EXPECT_EQ(parse_count("18446744073709551615"), 18446744073709551615ull);  // exact beyond 2^53
  EXPECT_EQ(parse_count("9007199254740993"), 9007199254740993ull);
  for (const std::string bad : {"", "1.5", "1e8x", "10M", "-1", "1e20"})
    EXPECT_THROW(parse_count(bad), std::invalid_argument) << bad;
}

TEST(FormatSize, DecimalUnitsWithoutTrailingZeros) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(999), "999 B");
  EXPECT_EQ(format_size(1000), "1 kB");
  EXPECT_EQ(format_size(4'000'000'000ull), "4 GB");
  EXPECT_EQ(format_size(1'500'000), "1.5 MB");
  EXPECT_EQ(format_size(999'999), "1 MB");  // not "1000 kB"
  EXPECT_EQ(format_size(2'000'000'000'000ull), "2 TB");
  EXPECT_EQ(format_size(1'234'567), "1.23 MB");
}

// MB is 10^6 bytes and MiB 2^20, on the way in and on the way out: --memory-limit 512MB is shown
// as 512 MB (a binary formatter labelled "MB" showed 488.3 MB), and 1 MiB as 1.05 MB.
TEST(SizeConvention, MegabyteIsTenToTheSixAndMebibyteTwoToTheTwenty) {
  EXPECT_EQ(parse_size("512MB"), 512'000'000u);
  EXPECT_EQ(parse_size("512MiB"), 512u << 20);
  EXPECT_EQ(format_size(parse_size("512MB")), "512 MB");
  EXPECT_EQ(format_size(parse_size("1MiB")), "1.05 MB");
  EXPECT_EQ(format_size(parse_size("64MiB")), "67.11 MB");
  EXPECT_EQ(format_size(parse_size("1.5GB")), "1.5 GB");
}

TEST(FormatSize, RoundTripsThroughParse) {
  for (std::uint64_t bytes : {1'000ull, 512'000'000ull, 4'000'000'000ull, 7'250'000'000'000ull})
    EXPECT_EQ(parse_size(format_size(bytes)), bytes) << format_size(bytes);
}

}  // namespace
}  // namespace curvefit
