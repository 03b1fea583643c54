#include "apiserver/auth.h"

#include <gtest/gtest.h>

namespace shakeout::apiserver {
namespace {

TEST(TokenAuth, ParsesUpstreamTokenFileFormat) {
  auto auth = TokenAuthenticator::parse(
      "t1,kubernetes-admin,uid-1,\"system:masters,system:authenticated\"\n"
      "\n"
      "t2,system:node:node-1,uid-2\r\n",
      "tokens.csv");
  ASSERT_TRUE(auth) << auth.error().message;
  EXPECT_EQ(auth->size(), 2u);
  auto admin = auth->authenticate("Bearer t1");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->name, "kubernetes-admin");
  EXPECT_EQ(admin->uid, "uid-1");
  EXPECT_EQ(admin->groups, (std::vector<std::string>{"system:masters", "system:authenticated"}));
  auto node = auth->authenticate("bearer t2");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->name, "system:node:node-1");
  EXPECT_TRUE(node->groups.empty());
}

TEST(TokenAuth, AnonymousAndWrongCredentialsAreRejected) {
  auto auth = TokenAuthenticator::parse("secret,alice,1\n", "tokens.csv");
  ASSERT_TRUE(auth);
  EXPECT_FALSE(auth->authenticate(""));
  EXPECT_FALSE(auth->authenticate("Bearer "));
  EXPECT_FALSE(auth->authenticate("Bearer secreT"));
  EXPECT_FALSE(auth->authenticate("Bearer secret2"));
  EXPECT_FALSE(auth->authenticate("Basic secret"));
  EXPECT_TRUE(auth->authenticate("Bearer secret"));
}

TEST(TokenAuth, MalformedLinesNameFileAndLine) {
  auto missing = TokenAuthenticator::parse("a,b,c\nonly-token\n", "tokens.csv");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("tokens.csv:2"), std::string::npos) << missing.error().message;
  auto duplicate = TokenAuthenticator::parse("a,b,c\na,d,e\n", "f");
  ASSERT_FALSE(duplicate);
  EXPECT_NE(duplicate.error().message.find("f:2: duplicate token"), std::string::npos);
}

TEST(TokenAuth, FormattedFileParsesBackAndTokensAreFresh) {
  auto t1 = generate_token();
  auto t2 = generate_token();
  ASSERT_TRUE(t1 && t2);
  EXPECT_EQ(t1->size(), 64u);
  EXPECT_NE(*t1, *t2);
  TokenEntry entry;
  entry.token = *t1;
  entry.user.name = "system:node:node-3";
  entry.user.uid = "n3";
  entry.user.groups = {"system:nodes", "system:authenticated"};
  auto auth = TokenAuthenticator::parse(format_token_file({entry}), "generated");
  ASSERT_TRUE(auth) << auth.error().message;
  auto user = auth->authenticate("Bearer " + *t1);
  ASSERT_TRUE(user);
  EXPECT_EQ(user->name, "system:node:node-3");
  EXPECT_EQ(user->groups, entry.user.groups);
}

}  // namespace
}  // namespace shakeout::apiserver
