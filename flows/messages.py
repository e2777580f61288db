"""Every sentence the bot says, in Japanese (the default) and English.

A reply names a key; its parameters are filled in with ``str.format``. A parameter
made with :func:`~flows.replies.phrase` names a ``value.*`` key and is translated
first, so a step can say "yes" or "issued at completion" without knowing the member's
language; any other parameter is shown as it is.

A count names its noun with a plural spec, ``{remaining:attempt|attempts}``: the
first form when the count is 1, the second otherwise ("1 attempt", "2 attempts").
Times shown as ``{until}`` are Japan time, and every such message says so.
"""

import string
from collections.abc import Mapping
from typing import Any

from flows import figures, terms
from flows.replies import Choice, Param, Reply

DEFAULT_LANG = "ja"

_JA: dict[str, str] = {
    # Greeting and conversation-wide answers
    "welcome": (
        "こんにちは。Netアンサーの新規登録をこのチャットでお手伝いします。\n"
        "お手元にカードとメールアドレスをご用意ください。\n"
        "・コーポレートカードの会員さまはNetアンサーをご利用いただけません。\n"
        "・クラブ・オン／ミレニアムカードの会員さまは専用の登録ページでお手続きください。\n"
        "途中でやめるときは /cancel、最初からやり直すときは /start、説明は /help です。"
    ),
    "welcome.back": "おかえりなさい。前回の続きから進めます。",
    "expired": (
        "前回の入力から30分以上たったため、安全のため入力内容を消去しました。"
        "お手数ですが、カード番号からもう一度お願いします。"
    ),
    "cancelled": "登録を中止し、入力いただいた内容をすべて消去しました。",
    "nothing_to_cancel": "中止できる手続きはありません。",
    "restarted": "最初からやり直します。入力いただいた内容は消去しました。",
    "choose.one": "下のボタンからお選びください。",
    "slow_down": "メッセージが続けて届いています。1分ほど待ってから、もう一度お送りください。",
    "unreadable": "メッセージを読み取れませんでした。文字でご入力ください。",
    "trouble": (
        "申し訳ありません。ただいま処理できませんでした。入力内容は保たれています。"
        "少し時間をおいてもう一度お送りください。"
    ),
    # Questions
    "ask.card": (
        "カード番号を入力してください（14〜16桁）。スペースやハイフンがあっても、"
        "全角数字でもかまいません。"
    ),
    "ask.expiry": "カードの有効期限を「月/年」で入力してください。例：カードの表示が「01/28」なら 01/28",
    "ask.code": "セキュリティコード（{brand}：{where}）を入力してください。",
    "ask.reregister": (
        "このカードはすでにNetアンサーに登録されています。再登録すると新しいNetアンサーIDになり、"
        "セゾンポケット・大和コネクト証券・セゾン投信など外部サービスとの連携は"
        "各サービスで再連携が必要になります。"
        "いまのNetアンサーIDをお持ちなら、再登録せずに「ログインして連携」でこのチャットとつなげます。"
    ),
    "ask.password": (
        "Netアンサーのパスワードを決めて入力してください。\n"
        "・半角8〜16文字、英字と数字の両方を含める\n"
        "・使える記号は - = @ _ のみ\n"
        "・生年月日・電話番号・メールアドレスに含まれる文字は使わない\n"
        "{netid}"
    ),
    "ask.netid": (
        "ご希望のNetアンサーIDを入力してください（半角英数字8〜16文字、"
        "生年月日や電話番号の数字は使えません）。"
    ),
    "ask.repeat": "確認のため、同じパスワードをもう一度入力してください。",
    "ask.email": (
        "メールアドレスを入力してください（パソコン・携帯電話のどちらか1つは必須、"
        "2つの場合はスペースで区切ってください）。\n"
        "「saisonid.com」「mail.saisoncard.co.jp」からのメールを受信できるよう設定をお願いします。"
    ),
    "ask.newsletter": "キャンペーンやプレゼントなどのおトクなメール（メールマガジン）を受け取りますか？",
    "ask.terms": (
        "最後にNetアンサー規約（版 {version}）への同意をお願いします。主な内容：\n"
        "・ご利用明細はWeb明細になり、紙の明細書の郵送は止まります"
        "（登録後にNetアンサーで郵送に戻せます）\n"
        "・本人認証サービス（3Dセキュア）に自動で登録されます\n"
        "・再登録の場合、外部サービスとの連携は再設定が必要です\n"
        "規約全文は下のボタンから読めます。"
    ),
    "ask.confirm": (
        "ご登録内容をご確認ください。\n"
        "カード番号：{card}\n有効期限：{expiry}\nNetアンサーID：{netid}\n"
        "パスワード：（表示しません）\nメールアドレス：{emails}\nメールマガジン：{newsletter}\n"
        "よろしければ「本人確認へ進む」を押してください。"
    ),
    "ask.fix": "修正する項目を選んでください。",
    "ask.otp": "{via}（{to}）にお送りした6桁のワンタイムパスコードを入力してください。有効期限は5分です。",
    "ask.pin": "カードの暗証番号（4桁）を入力してください。SMSのパスコードの代わりにご本人確認に使います。照合にだけ使い、保存しません。",
    "ask.call": (
        "ご登録の電話番号（{phone}）から、{minutes}分以内に下記のフリーダイヤルへお電話ください（通話料無料、自動音声のためご発声は不要です）。\n"
        "認証用電話番号：{number}\n"
        "「ご本人確認ができました」のガイダンスが流れたら電話を切り、「認証を完了する」を押してください。"
    ),
    "help.pin": "カードの暗証番号4桁でご本人確認をします。SMSに戻るときは下のボタンを押してください。",
    "help.call": "ご登録の固定電話からフリーダイヤルへ電話し、ガイダンスの後に「認証を完了する」を押します。",
    "pin.format": "暗証番号は4桁の数字です。",
    "pin.wrong": "暗証番号が違います。あと{remaining}回まで入力できます。",
    "identity.locked": (
        "ご本人確認に5回失敗したため、このカードの登録手続きを一時的に停止しました。"
        "{until}（日本時間）以降にもう一度お試しください。"
    ),
    "checks.locked": (
        "カード情報の確認に続けて失敗したため、確認を一時的に停止しています。"
        "{until}（日本時間）以降にもう一度お試しください。"
    ),
    "call.pending": "まだお電話を確認できていません。ご登録の電話番号からおかけになってから、もう一度「認証を完了する」を押してください。",
    "call.expired": "15分以内にお電話を確認できませんでした。「もう一度電話で認証する」を押すと、やり直せます。",
    "call.restarted": "あらためて{minutes}分以内にお電話ください。",
    "choice.otp.email": "メールでパスコードを受け取る",
    "choice.otp.pin": "SMSが届かない（暗証番号で確認）",
    "choice.pin.back": "SMSのパスコードに戻る",
    "choice.call.done": "認証を完了する",
    "choice.call.again": "もう一度電話で認証する",
    "ask.wallet": "Apple Pay／Google Payにカードを追加しますか？あとから設定することもできます。",
    "ask.member": (
        "カード {card}（NetアンサーID {netid}）についてお答えします。"
        "明細・ポイント・お支払い・ご利用可能額など、下のボタンか文字でどうぞ（例：「10月の明細」「支払日はいつ？」）。"
    ),
    "member.home": "次回のお支払い：{date}　{amount}\n永久不滅ポイント：{points}（{worth}相当）",
    "member.points": (
        "永久不滅ポイントの残高は{points}（{worth}相当）です。"
        "ポイントはお支払い金額への充当や、商品・ギフト券との交換にお使いいただけます。"
    ),
    "member.payment": "次回のお支払い日は{date}、お支払い金額は{amount}です。\n引き落とし口座：{bank}",
    "member.limit": "ご利用枠：{limit}\nご利用中：{used}\nご利用可能額：{available}",
    "member.statement": "{month}のご利用明細（{page}/{pages}）\n{lines}\nご請求合計：{total}",
    "member.statement.none": "{month}のご利用明細はありません。ご覧いただける月：{months}",
    "member.statement.end": "明細は以上です。",
    "member.menu": (
        "このチャットでは次のことができます。\n"
        "・ホーム（/home）：次回のお支払いとポイント\n"
        "・ご利用明細（/statement、「10月の明細」「先月の明細」）\n"
        "・ポイント（/points）\n・お支払い日と金額（/payment）\n・ご利用可能額（/limit）\n"
        "・利用グラフ（/graph）：直近6か月のご利用金額\n"
        "・ポイントを請求額に充当（/apply）\n・ウォレットにカードを追加（/wallet）\n"
        "・言語の切り替え（/language）\n・このチャットの連携解除（/unlink）\n"
        "お支払金額の変更・ご利用可能枠の増枠・キャッシングは、Netアンサー"
        "（https://www.saisoncard.co.jp/）でお手続きください。\n"
        "別のカードの登録は /start、説明は /help です。"
        "ご不明な点はセゾンカードのお問い合わせ窓口（https://www.saisoncard.co.jp/）へどうぞ。"
    ),
    "member.unknown": "すみません、お答えできる内容ではありませんでした。明細・ポイント・お支払い・ご利用可能額についてお尋ねください。",
    "member.not_linked": (
        "このチャットはNetアンサーと連携していないため、ご利用状況はお見せできません。"
        "ご覧いただくには、まずカード番号を入力してNetアンサーに登録してください。"
    ),
    "points.none": "いまはポイントを充当できません（ポイント残高{points}、次回のお支払い金額{amount}）。",
    "ask.points": (
        "次回のお支払い金額{amount}に、最大{usable}（{worth}）まで充当できます。"
        "何ポイント使いますか？数字でご入力ください（例：1000）。"
    ),
    "points.unreadable": "ポイント数を数字でご入力ください（1〜{usable}）。",
    "points.out_of_range": "充当できるのは1〜{usable}です。",
    "ask.points.confirm": "{points}（{worth}）を{date}のお支払い金額{amount}に充当します。よろしいですか？",
    "points.applied": (
        "{points}（{worth}）を充当しました。\nポイント残高：{balance}\n"
        "{date}のお支払い金額：{amount}"
    ),
    "points.kept": "ポイントの充当をやめました。ポイントはそのままです。",
    "points.refused": (
        "ポイント残高またはお支払い金額が変わったため、充当できませんでした。"
        "ポイントはそのままです。もう一度お試しください。"
    ),
    "ask.language": "使う言語を選んでください。",
    "language.chosen": "これからは{language}でご案内します。",
    "language.ja": "日本語",
    "language.en": "英語",
    "ask.unlink": (
        "このチャットとNetアンサー（ID {netid}、カード {card}）の連携を解除しますか？"
        "解除すると、このチャットではご利用状況をお見せできなくなります。"
        "Netアンサーのご登録はそのままです。"
    ),
    "unlinked": "連携を解除しました。NetアンサーID {netid} のご登録はそのままです。",
    "unlink.kept": "連携はそのままです。",
    "choice.statement.more": "明細の続き",
    "choice.menu.home": "ホーム",
    "choice.menu.statement": "ご利用明細",
    "choice.menu.points": "ポイント",
    "choice.menu.payment": "お支払い",
    "choice.menu.limit": "ご利用可能額",
    "choice.menu.graph": "利用グラフ",
    "member.graph": "{first}〜{last}のご利用金額です。\n6か月の合計：{total}\n1か月の平均：{average}",
    "member.graph.alt": "{first}〜{last}の月ごとのご利用金額の棒グラフ：{bars}",
    "image.unshown": "（このチャットでは画像をお見せできないため、内容を文字でお伝えします）",
    "chart.usage.title": "ご利用金額（{first}〜{last}）",
    "choice.menu.menu": "メニュー",
    "choice.points.apply": "ポイントを請求額に充当",
    "choice.menu.wallet": "ウォレットに追加",
    "choice.menu.language": "Language / 言語",
    "choice.menu.unlink": "連携解除",
    "choice.points.all": "使えるだけ使う",
    "choice.points.confirm": "充当する",
    "choice.points.cancel": "やめる",
    "choice.language.ja": "日本語",
    "choice.language.en": "English",
    "choice.unlink.confirm": "連携を解除する",
    "choice.unlink.cancel": "解除しない",
    "value.kind.lump": "1回払い",
    "value.kind.revolving": "リボ払い",
    "value.kind.installments": "分割払い",
    # LINE's rich menu: the chat bar and its six tiles
    "richmenu.bar": "メニュー",
    "richmenu.home": "ホーム",
    "richmenu.statement": "明細",
    "richmenu.points": "ポイント",
    "richmenu.payment": "お支払い",
    "richmenu.graph": "利用グラフ",
    "richmenu.menu": "メニュー",
    "ask.closed": "手続きは終了しました。新しく始めるときは「はじめる」を押すか /start を送ってください。",
    # Help per step
    "help.card": (
        "カード表面の番号（14〜16桁）を入力します。AMEXは15桁、ダイナースは14桁です。"
        "番号は保存時に暗号化されます。"
    ),
    "help.expiry": "カードに「月/年」で印字されている有効期限です。0128 や 1/28 の形でも受け付けます。",
    "help.code": (
        "VISA・Mastercard・JCB・ダイナースはカード裏面の右端3桁、AMEXはカード表面の4桁です"
        "（AMEXでも券種によっては裏面の3桁です）。"
        "照合にだけ使い、保存しません。"
    ),
    "help.reregister": "再登録すると外部サービスとの連携が解除されます。続けるか、やめるかを選んでください。",
    "help.password": (
        "半角8〜16文字で、英字と数字を両方含めてください。記号は - = @ _ だけ使えます。"
        "生年月日（西暦・和暦の年、月日）や電話番号、メールアドレスの@より前の部分は含められません。"
    ),
    "help.netid": "半角英数字8〜16文字で、ほかの方と重ならないIDです。生年月日や電話番号の数字は使えません。",
    "help.repeat": "直前に決めたパスワードを、確認のためもう一度入力します。",
    "help.email": (
        "パソコンか携帯電話のメールアドレスを1つ以上入力します。"
        "ドコモ・au などで「..」や「.@」を含む古いアドレスも受け付けます。"
    ),
    "help.newsletter": "メールマガジンの受け取りを選びます。あとから変更できます。",
    "help.terms": "規約に同意いただくと登録内容の確認に進みます。同意しない場合は登録を終了します。",
    "help.confirm": "内容が正しければ本人確認へ進みます。違う項目があれば「戻って修正する」を押してください。",
    "help.fix": "直したい項目を選ぶと、その項目だけ入力し直して確認画面に戻ります。",
    "help.otp": (
        "ご登録の連絡先に届いた6桁の数字を入力します。届かないときは「再発行」を押してください。"
    ),
    "help.wallet": "スマートフォンのウォレットにカードを追加するかどうかを選びます。",
    "help.member": "明細・ポイント・お支払い・ご利用可能額をお答えします。/menu でできることの一覧、/start で別のカードの登録です。",
    "help.points": "次回のお支払い金額に充当するポイント数を数字で入力します。/cancel でやめられます。",
    "help.points.confirm": "「充当する」で確定、「やめる」で取りやめます。",
    "help.language": "ご案内に使う言語を選びます。",
    "help.unlink": "連携を解除すると、このチャットではご利用状況をお見せしなくなります。Netアンサーのご登録は残ります。",
    "help.closed": "/start で新しく登録を始められます。",
    # Problems with what was typed
    "card.empty": "カード番号が入力されていません。",
    "card.characters": "カード番号には数字だけを入力してください（スペース・ハイフンは使えます）。",
    "card.brand": "この番号はお取り扱いのカードの番号ではないようです。先頭の数字をご確認ください。",
    "card.length": "カード番号は{expected}桁です（入力は{given}桁でした）。",
    "card.length.range": "カード番号は{min}〜{max}桁です（入力は{given}桁でした）。",
    "card.luhn": "カード番号に誤りがあるようです。もう一度ご確認ください。",
    "card.accepted": "{brand} {card} を受け付けました。",
    "card.kept_in_history": (
        "ご注意：LINEでは、お送りいただいたメッセージをこちらから削除できません。"
        "カード番号はこのトークの履歴に残ります。入力のあと、そのメッセージを長押しして"
        "「送信取消」を選ぶと、履歴から消せます（送信から24時間以内）。"
    ),
    "card.mismatch": (
        "カード番号・有効期限・セキュリティコードの組み合わせを確認できませんでした。"
        "お手数ですが、カード番号からもう一度入力してください。"
    ),
    "eligibility.corporate": (
        "申し訳ありません。コーポレートカードの会員さまはNetアンサーをご利用いただけません。"
    ),
    "eligibility.clubon": (
        "クラブ・オン／ミレニアムカードの会員さまは、こちらのチャットではなく"
        "クラブ・オン／ミレニアムカード専用の登録ページからお手続きください。\n{url}"
    ),
    "expiry.format": "有効期限を読み取れませんでした。「01/28」のように月/年で入力してください。",
    "expiry.month": "月は01〜12で入力してください。",
    "expiry.past": "この有効期限はすでに過ぎています。お手元の新しいカードの有効期限をご確認ください。",
    "code.characters": "セキュリティコードは数字だけで入力してください。",
    "code.length": "セキュリティコードは{expected}桁です。",
    "code.length.amex": (
        "American Expressのセキュリティコードは、カード表面の4桁です（一部のカードは裏面の3桁）。"
    ),
    "password.length": "パスワードは{min}〜{max}文字にしてください。",
    "password.characters": "パスワードに使えるのは半角英字・数字と記号 - = @ _ だけです。",
    "password.half_width": (
        "パスワードは半角で入力してください。全角の文字など、半角でない文字が含まれています。"
        "キーボードを半角英数字に切り替えてから、もう一度入力してください。"
    ),
    "password.letter": "パスワードに半角英字を含めてください。",
    "password.digit": "パスワードに半角数字を含めてください。",
    "password.birth": "パスワードに生年月日（年・月日）が含まれています。",
    "password.phone": "パスワードにご登録の電話番号（または下4桁）が含まれています。",
    "password.email": "パスワードにメールアドレスの@より前の部分が含まれています。",
    "password.strength": "パスワードを受け付けました。安全性：{strength}",
    "password.again": (
        "メールアドレスを変更したので、パスワードをもう一度決めてください"
        "（パスワードそのものは保存していないため、新しいアドレスとの照合ができません）。"
    ),
    "password.holder_changed": "カードを変更したので、パスワードをもう一度決めてください（新しいカードの会員さまの生年月日・電話番号と照合するためです）。",
    "repeat.mismatch": "1回目のパスワードと一致しませんでした。パスワードをもう一度決めてください。",
    "netid.length": "NetアンサーIDは{min}〜{max}文字にしてください。",
    "netid.characters": "NetアンサーIDに使えるのは半角英字と数字だけです。",
    "netid.birth": "NetアンサーIDに生年月日（年・月日）が含まれています。",
    "netid.phone": "NetアンサーIDにご登録の電話番号（または下4桁）が含まれています。",
    "netid.email": "NetアンサーIDにメールアドレスの@より前の部分が含まれています。",
    "netid.taken": "このNetアンサーIDはすでに使われています。別のIDをお考えください。",
    "netid.card": "カード番号のような数字はNetアンサーIDに使えません。英字を含むIDをお考えください。",
    "netid.password": "入力された内容はパスワードのようです。NetアンサーIDに使えるのは半角英字と数字だけのため、受け付けず、保存もしていません。",
    "netid.same_as_password": "入力された内容はお決めいただいたパスワードと同じです。NetアンサーIDはパスワードと別にしてください（入力された内容は保存していません）。",
    "netid.chosen": "NetアンサーID {netid} で登録します。",
    "netid.dropped": "ご希望のNetアンサーIDに新しいカードの会員さまの生年月日か電話番号が含まれるため、IDはご登録完了時に発行します（確認画面から別のIDを選べます）。",
    "email.empty": "メールアドレスが入力されていません。",
    "email.invalid": "{position}つ目のメールアドレスが正しくないようです（@の前後や、ドメインの「.」をご確認ください）。",
    "email.too_many": "メールアドレスは2つまで（パソコン・携帯電話）です。",
    "email.duplicate": "同じメールアドレスが2回入力されています。",
    "email.legacy": (
        "「{address}」は「..」や「.@」を含むため、一部のメールが届かない場合があります。"
        "このまま登録しますが、届かないときは別のアドレスへの変更をご検討ください。"
    ),
    "terms.declined": "規約に同意いただけなかったため、登録を終了し入力内容を消去しました。",
    "otp.format": "ワンタイムパスコードは6桁の数字です。",
    "otp.sent": "{via}（{to}）にワンタイムパスコードをお送りしました。",
    "otp.resent": "新しいワンタイムパスコードを{via}（{to}）にお送りしました。前のパスコードは使えません。",
    "otp.resend_wait": "再発行は{seconds}秒後からできます。",
    "otp.resend_limit": "再発行できる回数を超えました。届いているパスコードを入力してください。",
    "otp.no_mail": "カード会社にメールアドレスのご登録がないため、パスコードをメールでお送りできません。SMSかカードの暗証番号をお使いください。",
    "otp.expired": "パスコードの有効期限（5分）が切れました。「再発行」を押してください。",
    "otp.wrong": "パスコードが違います。あと{remaining}回まで入力できます。",
    "done": (
        "ご登録ありがとうございました。お客様のNetアンサーIDは {netid} です。"
        "同じIDをご登録のメールアドレスにもお送りしました。"
    ),
    "wallet.add": (
        "スマートフォンのウォレット（Apple Pay／Google Pay）アプリを開き、"
        "「カードを追加」から {card} を追加してください。"
    ),
    "wallet.later": "承知しました。ウォレットへの追加はあとからいつでもできます。",
    # SMS and mail
    "sms.passcode": "【Netアンサー】ワンタイムパスコード：{code}（5分間有効）。他人には絶対に教えないでください。",
    "mail.passcode": (
        "Netアンサー ご本人確認\n\nワンタイムパスコード：{code}\n"
        "5分間有効です。このパスコードを他人に教えないでください。"
    ),
    "mail.passcode.subject": "【Netアンサー】ワンタイムパスコードのお知らせ",
    "mail.done.subject": "【Netアンサー】ご登録完了のお知らせ",
    "mail.done": (
        "Netアンサーのご登録が完了しました。\n\nNetアンサーID：{netid}\n\n"
        "パスワードはご自身で大切に管理してください。お心当たりのない場合は当社までご連絡ください。"
    ),
    # Button labels
    "choice.start": "はじめる",
    "choice.reregister.continue": "再登録する",
    "choice.reregister.signin": "ログインして連携（おすすめ）",
    "choice.welcome.signin": "Netアンサーに登録済みの方（ログインして連携）",
    "choice.welcome.enroll": "はじめて登録する",
    "choice.signin.forgot": "IDまたはパスワードを忘れた",
    "choice.signin.enroll": "新しく登録する",
    "welcome.enroll": "では、新規登録を始めます。",
    "ask.signin_id": "NetアンサーIDを入力してください。",
    "help.signin_id": "Netアンサーにご登録のIDでログインし、このチャットと連携します。IDをお持ちでない方は「新しく登録する」を押してください。",
    "ask.signin_password": "Netアンサーのパスワードを入力してください。照合にだけ使い、保存しません。",
    "help.signin_password": "NetアンサーIDに対応するパスワードです。忘れた場合は下のボタンからご案内します。",
    "signin.id_format": "NetアンサーIDを入力してください（空白を含まない64文字以内）。",
    "signin.failed": "NetアンサーIDまたはパスワードが違います。もう一度IDからお願いします。",
    "signin.codes_paused": "パスコードを続けてお送りしたため、{until}（日本時間）までは新しいパスコードをお送りできません。",
    "signin.locked": (
        "ログインに続けて失敗したため、ログインを一時的に停止しています。"
        "{until}（日本時間）以降にもう一度お試しください。"
    ),
    "signin.forgot": (
        "NetアンサーIDやパスワードをお忘れの場合は、セゾンカードのサイト"
        "（https://www.saisoncard.co.jp/）の「ID・パスワードをお忘れの方」から再設定できます。"
        "どうしても分からない場合の最後の手段として、「新しく登録する」から再登録もできます"
        "（新しいIDになり、外部サービスとの連携はやり直しになります）。"
    ),
    "signin.no_mobile": (
        "ご登録の電話番号にSMSを送れないため、このチャットではログインできません。"
        "ご本人確認のため {number} までお問い合わせください。"
    ),
    "signin.linked": (
        "ログインしました。NetアンサーID {netid} とこのチャットを連携しました。"
        "これからは、ご請求金額・お支払日・ご利用先・ポイントなどがこのチャットのアプリを通ってお届けされます。"
        "連携をやめるときは /unlink を送ってください。"
    ),
    "choice.signin.page": "ログイン画面を開く",
    "choice.signin.chat": "このチャットでログイン",
    "ask.signin_page": (
        "「ログイン画面を開く」から、NetアンサーIDとパスワード、SMSで届くパスコードを入力してください。"
        "入力はこのトークに残りません。済むとLINEの連携画面に移り、このトークと連携します（画面は10分間有効です）。"
        "このチャットでログインすることもできます。"
    ),
    "help.signin_page": (
        "ログイン画面はこのボットのサーバーのページです。入力したパスワードとパスコードはトークに残らず、保存もしません。"
        "画面の期限が切れたときは /start からもう一度ログインを選んでください。"
    ),
    "signin.link_failed": (
        "LINEとの連携ができませんでした。このトークは連携していません。"
        "お手数ですが、もう一度ログインからお試しください。"
    ),
    "member.recheck": (
        "前回のご利用から90日以上たっているため、ご本人確認のパスコードをお送りしました。"
        "確認が済むと、ご利用明細などを表示します。"
    ),
    "choice.entry": "安全な入力画面で入力する",
    "entry.stale": (
        "入力画面から届いた内容は、いまの質問あてではないため受け付けませんでした。"
        "下の質問にお答えください。"
    ),
    "card.typed_in_history": (
        "ご注意：LINEでは、お送りいただいたメッセージをこちらから削除できないため、"
        "入力されたカード情報はこのトークの履歴に残ります。そのメッセージを長押しして"
        "「送信取消」を選ぶと消せます（送信から24時間以内）。"
        "次からは「安全な入力画面で入力する」ボタンをお使いください。"
    ),
    "entry.title": "Netアンサー 安全な入力画面",
    "entry.intro": "ここで入力した内容はトークの履歴に残りません。送信すると、チャットの続きに進みます。",
    "entry.card": "カード番号（14〜16桁）",
    "entry.expiry": "有効期限（月/年、例: 08/29 または 0829）",
    "entry.code": "セキュリティコード（カード裏面の3桁、アメリカン・エキスプレスは表面の4桁）",
    "entry.password": "パスワード",
    "entry.repeat": "パスワード（確認のためもう一度）",
    "entry.pin": "カードの暗証番号（4桁）",
    "entry.brand": "カードの種類: {brand}",
    "entry.submit": "送信する",
    "entry.sent": "送信しました。チャットに戻って続きをご確認ください。この画面は閉じてかまいません。",
    "entry.unready": (
        "入力画面の準備ができませんでした。いったん閉じて、チャットからもう一度開いてください。"
    ),
    "entry.failed": (
        "申し訳ありません。いま受け付けられませんでした。チャットに戻り、"
        "もう一度「安全な入力画面で入力する」を押してください。"
    ),
    "entry.gone": (
        "この入力画面は使えません（10分の有効期限切れ、使用済み、またはいまの質問あてではありません）。"
        "チャットに戻り、質問の下の「安全な入力画面で入力する」をもう一度押してください。"
    ),
    "entry.refused": (
        "この入力画面を開いたご本人であることを確認できませんでした。何も受け付けていません。"
        "チャットの「安全な入力画面で入力する」から開き直してください。"
    ),
    "page.title": "Netアンサー ログイン（LINE連携）",
    "page.intro": "NetアンサーIDとパスワードでログインすると、このLINEアカウントと連携します。",
    "page.netid": "NetアンサーID",
    "page.password": "パスワード",
    "page.passcode": "パスコード（6桁）",
    "page.sent": "{via}（{to}）にパスコードを送りました。5分以内に入力してください。",
    "page.submit": "次へ",
    "page.code_expired": "パスコードの有効期限（5分）が切れました。もう一度IDとパスワードからお願いします。",
    "page.gone": "このログイン画面は使えません（期限切れ、または使用済みです）。LINEのトークに戻り、もう一度ログインを選んでください。",
    "page.refused": "このページから送信できませんでした。LINEのトークからログイン画面を開き直してください。",
    "ask.signin_closed": "ログインの手続きは終了しました。もう一度ログインするときは「はじめる」を押してください。",
    "help.signin_closed": "「はじめる」でもう一度ログインできます。/start で最初に戻ります。",
    "choice.reregister.stop": "やめる",
    "choice.netid.own": "IDを自分で決める",
    "choice.netid.issue": "IDは発行してもらう",
    "choice.newsletter.yes": "受け取る",
    "choice.newsletter.no": "受け取らない",
    "choice.terms.agree": "規約に同意して確認画面へ",
    "choice.terms.full": "規約全文を読む",
    "choice.terms.more": "続きを読む",
    "choice.terms.decline": "同意しない",
    "choice.confirm.ok": "本人確認へ進む",
    "choice.confirm.edit": "戻って修正する",
    "choice.fix.card": "カード情報",
    "choice.fix.netid": "NetアンサーID",
    "choice.fix.password": "パスワード",
    "choice.fix.email": "メールアドレス",
    "choice.fix.back": "修正せずに戻る",
    "choice.otp.resend": "ワンタイムパスコードを再発行する",
    "choice.wallet.add": "ウォレットに追加する",
    "choice.wallet.later": "今はしない",
    # Values inside sentences
    "value.yes": "受け取る",
    "value.no": "受け取らない",
    "value.netid.issued": "（登録完了時に発行）",
    "value.password.issued": "NetアンサーIDはご登録完了時に発行します。ご自分で決めたい場合は下のボタンからどうぞ。",
    "value.password.own": "NetアンサーIDは、お選びいただいたものを使います。",
    "value.code.back": "カード裏面に記載の3桁",
    "value.code.amex": "カード表面に記載の4桁。一部のカードは裏面に記載の3桁",
    "value.via.sms": "SMS",
    "value.via.mail": "メール",
    "value.strength.very_high": "非常に高い",
    "value.strength.high": "高い",
    "value.strength.medium": "普通",
    "value.strength.low": "低い（より長く複雑なパスワードをおすすめします）",
}

_EN: dict[str, str] = {
    "welcome": (
        "Hello. I will help you register for Net Answer right here in the chat.\n"
        "Please have your card and an email address ready.\n"
        "- Corporate card members cannot use Net Answer.\n"
        "- Club-On / Millennium card members register on their own registration page.\n"
        "Send /cancel to stop, /start to begin again, /help for an explanation."
    ),
    "welcome.back": "Welcome back. Let's continue where you left off.",
    "expired": (
        "More than 30 minutes passed since your last answer, so for your safety I erased "
        "what you entered. Please start again with your card number."
    ),
    "cancelled": "Registration cancelled. Everything you entered has been erased.",
    "nothing_to_cancel": "There is nothing to cancel.",
    "restarted": "Starting over. Everything you entered has been erased.",
    "choose.one": "Please choose one of the buttons below.",
    "slow_down": "Many messages are arriving at once. Please wait about a minute, then send yours again.",
    "unreadable": "I could not read that message. Please type your answer as text.",
    "trouble": (
        "Sorry, I could not process that just now. Nothing you entered is lost. "
        "Please send it again in a moment."
    ),
    "ask.card": (
        "Please enter your card number (14-16 digits). Spaces, hyphens and full-width "
        "digits are fine."
    ),
    "ask.expiry": "Please enter the card's expiry as month/year, e.g. 01/28 if the card shows 01/28.",
    "ask.code": "Please enter the security code ({brand}: {where}).",
    "ask.reregister": (
        "This card is already registered for Net Answer. Registering again gives you a new Net "
        "Answer ID, and external services (Saison Pocket, Daiwa Connect Securities, Saison Asset "
        "Management and others) must be linked again at each service. If you have your Net "
        "Answer ID, sign in to link this chat instead."
    ),
    "ask.password": (
        "Please choose your Net Answer password.\n"
        "- 8-16 half-width characters with both letters and digits\n"
        "- the only symbols allowed are - = @ _\n"
        "- nothing from your birth date, phone number or email address\n"
        "{netid}"
    ),
    "ask.netid": (
        "Please enter the Net Answer ID you would like (8-16 half-width letters and digits, "
        "no birth-date or phone digits)."
    ),
    "ask.repeat": "Please type the same password once more to confirm it.",
    "ask.email": (
        "Please enter your email address (a PC or a mobile address; at least one, two "
        "separated by a space).\n"
        "Please allow mail from saisonid.com and mail.saisoncard.co.jp."
    ),
    "ask.newsletter": "Would you like our newsletter with campaigns and special offers?",
    "ask.terms": (
        "Finally, please agree to the Net Answer terms (version {version}). Main points:\n"
        "- statements move to the web and paper statements stop (you can switch back later "
        "in Net Answer)\n"
        "- you are enrolled in 3-D Secure automatically\n"
        "- if you register again, external services must be linked again\n"
        "The full terms are one tap away below."
    ),
    "ask.confirm": (
        "Please check your registration.\n"
        "Card number: {card}\nExpiry: {expiry}\nNet Answer ID: {netid}\n"
        "Password: (not shown)\nEmail: {emails}\nNewsletter: {newsletter}\n"
        "If everything is right, continue to the identity check."
    ),
    "ask.fix": "Which item would you like to change?",
    "ask.otp": "Please enter the 6-digit one-time passcode sent by {via} to {to}. It is valid for 5 minutes.",
    "ask.pin": "Please enter your card's 4-digit PIN. It replaces the SMS passcode for the identity check; it is only checked, never stored.",
    "ask.call": (
        "Please call the toll-free number below from your registered phone ({phone}) within {minutes} {minutes:minute|minutes} (free of charge; an automated line, no need to speak).\n"
        "Verification number: {number}\n"
        "When you hear that your identity was confirmed, hang up and press 'Complete the check'."
    ),
    "help.pin": "Your card's 4-digit PIN confirms it is you. Use the button below to go back to the SMS passcode.",
    "help.call": "Call the toll-free number from your registered landline, then press 'Complete the check'.",
    "pin.format": "The PIN is 4 digits.",
    "pin.wrong": "That PIN is not right. {remaining} {remaining:attempt|attempts} left.",
    "identity.locked": (
        "The identity check failed 5 times, so registration for this card is paused. "
        "Please try again after {until} Japan time (JST)."
    ),
    "checks.locked": (
        "Too many card checks failed in a row, so checking is paused. "
        "Please try again after {until} Japan time (JST)."
    ),
    "call.pending": "Your call has not arrived yet. Please call from your registered phone, then press 'Complete the check' again.",
    "call.expired": "No call arrived within 15 minutes. Press 'Check by phone again' to start over.",
    "call.restarted": "Please call again within {minutes} {minutes:minute|minutes}.",
    "choice.otp.email": "Get the passcode by email",
    "choice.otp.pin": "No SMS? Use the card PIN",
    "choice.pin.back": "Back to the SMS passcode",
    "choice.call.done": "Complete the check",
    "choice.call.again": "Check by phone again",
    "ask.wallet": "Add your card to Apple Pay / Google Pay? You can also do this later.",
    "ask.member": (
        "Ask about card {card} (Net Answer ID {netid}): statement, points, payment or credit "
        'left, with the buttons below or in words (e.g. "October statement", "when do I pay?").'
    ),
    "member.home": "Next payment: {date}, {amount}\nPoints: {points} (worth {worth})",
    "member.points": (
        "You have {points} (worth {worth}). Points can be put towards your bill or "
        "exchanged for goods and gift cards."
    ),
    "member.payment": "Your next payment is {amount} on {date}.\nPaid from: {bank}",
    "member.limit": "Credit limit: {limit}\nIn use: {used}\nAvailable: {available}",
    "member.statement": "Statement for {month} ({page}/{pages})\n{lines}\nTotal billed: {total}",
    "member.statement.none": "There is no statement for {month}. Months you can see: {months}",
    "member.statement.end": "That is the whole statement.",
    "member.menu": (
        "Here is what I can do:\n"
        "- home (/home): next payment and points\n"
        '- statement (/statement, "October statement", "last month\'s statement")\n'
        "- points (/points)\n- payment date and amount (/payment)\n- credit left (/limit)\n"
        "- usage graph (/graph): what you spent in each of the last 6 months\n"
        "- put points towards your bill (/apply)\n- add the card to a wallet (/wallet)\n"
        "- switch language (/language)\n- unlink this chat (/unlink)\n"
        "To change the payment amount, raise the credit limit or get a cash advance, use "
        "Net Answer (https://www.saisoncard.co.jp/).\n"
        "Send /start to register another card, /help for help. "
        "For anything else, contact Saison Card support (https://www.saisoncard.co.jp/)."
    ),
    "member.unknown": "Sorry, I cannot answer that. Ask me about your statement, points, payment or credit left.",
    "member.not_linked": (
        "This chat is not linked to Net Answer, so no account details can be shown. "
        "To see them, register first: enter your card number."
    ),
    "points.none": "No points can be put towards a bill now (balance {points}, next payment {amount}).",
    "ask.points": (
        "Up to {usable} (worth {worth}) can go towards your next payment of {amount}. "
        "How many points? Type a number (e.g. 1000)."
    ),
    "points.unreadable": "Please type the number of points (1 to {usable}).",
    "points.out_of_range": "You can use 1 to {usable}.",
    "ask.points.confirm": "Put {points} (worth {worth}) towards your payment of {amount} on {date}?",
    "points.applied": (
        "Done: {points} (worth {worth}) put towards your bill.\nPoints left: {balance}\n"
        "Payment on {date}: {amount}"
    ),
    "points.kept": "Cancelled. Your points are unchanged.",
    "points.refused": (
        "Your points or your bill changed meanwhile, so nothing was applied and your points "
        "are unchanged. Please try again."
    ),
    "ask.language": "Choose your language.",
    "language.chosen": "From now on I will answer in {language}.",
    "language.ja": "Japanese",
    "language.en": "English",
    "ask.unlink": (
        "Unlink this chat from Net Answer (ID {netid}, card {card})? This chat will no "
        "longer show your account. Your Net Answer registration stays."
    ),
    "unlinked": "This chat is unlinked. Your Net Answer ID {netid} stays registered.",
    "unlink.kept": "The chat stays linked.",
    "choice.statement.more": "More of the statement",
    "choice.menu.home": "Home",
    "choice.menu.statement": "Statement",
    "choice.menu.points": "Points",
    "choice.menu.payment": "Payment",
    "choice.menu.limit": "Credit left",
    "choice.menu.graph": "Usage graph",
    "member.graph": "Your spending from {first} to {last}.\n6-month total: {total}\nMonthly average: {average}",
    "member.graph.alt": "Bar chart of your spending by month, {first} to {last}: {bars}",
    "image.unshown": "(Pictures cannot be shown in this chat, so here it is in words.)",
    "chart.usage.title": "Spending, {first} – {last}",
    "choice.menu.menu": "Menu",
    "choice.points.apply": "Put points towards the bill",
    "choice.menu.wallet": "Add to wallet",
    "choice.menu.language": "Language / 言語",
    "choice.menu.unlink": "Unlink this chat",
    "choice.points.all": "Use as many as possible",
    "choice.points.confirm": "Apply",
    "choice.points.cancel": "Cancel",
    "choice.language.ja": "日本語",
    "choice.language.en": "English",
    "choice.unlink.confirm": "Unlink",
    "choice.unlink.cancel": "Keep linked",
    "value.kind.lump": "one payment",
    "value.kind.revolving": "revolving",
    "value.kind.installments": "installments",
    # LINE's rich menu: the chat bar and its six tiles
    "richmenu.bar": "Menu",
    "richmenu.home": "Home",
    "richmenu.statement": "Statement",
    "richmenu.points": "Points",
    "richmenu.payment": "Payment",
    "richmenu.graph": "Usage graph",
    "richmenu.menu": "Menu",
    "ask.closed": "This registration has ended. Press Start or send /start to begin a new one.",
    "help.card": (
        "The number on the front of your card (14-16 digits; AMEX has 15, Diners 14). "
        "It is stored encrypted."
    ),
    "help.expiry": "The month/year printed on your card. 0128 or 1/28 work too.",
    "help.code": (
        "VISA, Mastercard, JCB and Diners: the last 3 digits on the back. AMEX: the 4 digits on "
        "the front (some AMEX cards have 3 digits on the back instead). It is only checked, "
        "never stored."
    ),
    "help.reregister": "Registering again unlinks external services. Choose to continue or stop.",
    "help.password": (
        "8-16 half-width characters including letters and digits; symbols - = @ _ only. "
        "It may not contain your birth date, phone number or the part of your email before @."
    ),
    "help.netid": "8-16 half-width letters and digits, not used by anyone else, without birth-date or phone digits.",
    "help.repeat": "Type the password you just chose once more.",
    "help.email": (
        "At least one PC or mobile address. Older carrier addresses with '..' or '.@' are accepted."
    ),
    "help.newsletter": "Choose whether to receive the newsletter. You can change this later.",
    "help.terms": "Agreeing takes you to the confirmation. Declining ends the registration.",
    "help.confirm": "If everything is right, continue to the identity check; otherwise go back to fix one item.",
    "help.fix": "Choose an item; you re-enter only that item and come back to the confirmation.",
    "help.otp": "Enter the 6 digits sent to your registered contact. Didn't get it? Press re-issue.",
    "help.wallet": "Choose whether to add the card to your phone's wallet.",
    "help.member": "I answer about your statement, points, payment and credit left. /menu lists everything; /start registers another card.",
    "help.points": "Type how many points to put towards your next payment. /cancel stops.",
    "help.points.confirm": "Press Apply to confirm or Cancel to stop.",
    "help.language": "Choose the language I answer in.",
    "help.unlink": "Unlinking stops this chat from showing your account. Your Net Answer registration stays.",
    "help.closed": "Send /start to begin a new registration.",
    "card.empty": "No card number was entered.",
    "card.characters": "Please use digits only in the card number (spaces and hyphens are fine).",
    "card.brand": "This does not look like the number of a card we issue. Please check the first digits.",
    "card.length": "A card number has {expected} digits (you entered {given}).",
    "card.length.range": "A card number has {min}-{max} digits (you entered {given}).",
    "card.luhn": "The card number seems to contain a mistake. Please check it.",
    "card.accepted": "Got it: {brand} {card}.",
    "card.kept_in_history": (
        "Please note: on LINE I cannot delete the messages you send, so your card number "
        "stays in this chat's history. After entering it, press and hold that message and "
        "choose 'Unsend' to remove it (within 24 hours of sending)."
    ),
    "card.mismatch": (
        "We could not confirm that card number, expiry and security code. "
        "Please start again with the card number."
    ),
    "eligibility.corporate": "Sorry, corporate card members cannot use Net Answer.",
    "eligibility.clubon": (
        "Club-On / Millennium card members register on the Club-On / Millennium card "
        "registration page rather than here:\n{url}"
    ),
    "expiry.format": "I could not read the expiry. Please write it as month/year, e.g. 01/28.",
    "expiry.month": "The month must be between 01 and 12.",
    "expiry.past": "This expiry date has passed. Please check the expiry on your newest card.",
    "code.characters": "The security code is made of digits only.",
    "code.length": "The security code has {expected} digits.",
    "code.length.amex": (
        "The American Express security code is the 4 digits on the front "
        "(on some cards, the 3 digits on the back)."
    ),
    "password.length": "The password must be {min}-{max} characters long.",
    "password.characters": "Only half-width letters, digits and the symbols - = @ _ can be used.",
    "password.half_width": (
        "Passwords are half-width, and yours contains full-width or other characters that "
        "are not. Please switch your keyboard to half-width (English) letters and digits, "
        "then type it again."
    ),
    "password.letter": "The password needs at least one half-width letter.",
    "password.digit": "The password needs at least one half-width digit.",
    "password.birth": "The password contains your birth date (year or month and day).",
    "password.phone": "The password contains your phone number (or its last 4 digits).",
    "password.email": "The password contains the part of your email address before @.",
    "password.strength": "Password accepted. Strength: {strength}",
    "password.again": (
        "You changed your email address, so please choose your password again (the "
        "password itself is never kept, so it cannot be checked against the new address)."
    ),
    "password.holder_changed": "You changed the card, so please choose your password again (it must be checked against the new holder's birth date and phone).",
    "repeat.mismatch": "That did not match the first password. Please choose your password again.",
    "netid.length": "The Net Answer ID must be {min}-{max} characters long.",
    "netid.characters": "The Net Answer ID may contain half-width letters and digits only.",
    "netid.card": "A card number cannot be a Net Answer ID. Please choose an ID with letters in it.",
    "netid.password": "That looks like a password, not a Net Answer ID (an ID is half-width letters and digits only), so it was not taken and was not saved.",
    "netid.same_as_password": "That is the password you chose. Your Net Answer ID must differ from your password (what you typed was not saved).",
    "netid.birth": "The Net Answer ID contains your birth date (year or month and day).",
    "netid.phone": "The Net Answer ID contains your phone number (or its last 4 digits).",
    "netid.email": "The Net Answer ID contains the part of your email address before @.",
    "netid.taken": "This Net Answer ID is already taken. Please think of another.",
    "netid.chosen": "You will be registered as {netid}.",
    "netid.dropped": "The Net Answer ID you chose contains the new card holder's birth date or phone number, so an ID will be issued when you finish (you can choose another from the confirmation).",
    "email.empty": "No email address was entered.",
    "email.invalid": "Email address {position} does not look valid (please check the parts before and after @).",
    "email.too_many": "At most two addresses (PC and mobile), please.",
    "email.duplicate": "The same address was entered twice.",
    "email.legacy": (
        "'{address}' contains '..' or '.@', so some mail may not reach it. I will register it; "
        "if mail does not arrive, please consider another address."
    ),
    "terms.declined": "You did not agree to the terms, so the registration ended and your entries were erased.",
    "otp.format": "The one-time passcode is 6 digits.",
    "otp.sent": "A one-time passcode was sent by {via} to {to}.",
    "otp.resent": "A new passcode was sent by {via} to {to}. The previous one no longer works.",
    "otp.resend_wait": "You can ask for a new passcode in {seconds} {seconds:second|seconds}.",
    "otp.resend_limit": "No more re-issues are possible. Please enter the passcode you received.",
    "otp.no_mail": "The card company holds no email address for you, so the passcode cannot go by mail. Please use SMS or your card PIN.",
    "otp.expired": "The passcode has expired (5 minutes). Please press re-issue.",
    "otp.wrong": "That passcode is not right. {remaining} {remaining:attempt|attempts} left.",
    "done": (
        "Thank you for registering. Your Net Answer ID is {netid}. "
        "We have also sent it to your email address."
    ),
    "wallet.add": (
        "Open your phone's wallet app (Apple Pay / Google Pay) and choose 'Add card' to add {card}."
    ),
    "wallet.later": "All right. You can add the card to your wallet at any time.",
    "sms.passcode": "[Net Answer] One-time passcode: {code} (valid 5 minutes). Never share it.",
    "mail.passcode": (
        "Net Answer identity check\n\nOne-time passcode: {code}\n"
        "Valid for 5 minutes. Never share this passcode."
    ),
    "mail.passcode.subject": "[Net Answer] Your one-time passcode",
    "mail.done.subject": "[Net Answer] Your registration is complete",
    "mail.done": (
        "Your Net Answer registration is complete.\n\nNet Answer ID: {netid}\n\n"
        "Please keep your password to yourself. If you did not register, please contact us."
    ),
    "choice.start": "Start",
    "choice.reregister.continue": "Register again",
    "choice.reregister.signin": "Sign in and link (recommended)",
    "choice.welcome.signin": "I have a Net Answer ID (sign in and link)",
    "choice.welcome.enroll": "Register for the first time",
    "choice.signin.forgot": "I forgot my ID or password",
    "choice.signin.enroll": "Register anew",
    "welcome.enroll": "Let's register.",
    "ask.signin_id": "Please enter your Net Answer ID.",
    "help.signin_id": "Sign in with your Net Answer ID to link this chat. No ID yet? Press Register anew.",
    "ask.signin_password": "Please enter your Net Answer password. It is only checked, never stored.",
    "help.signin_password": "The password of your Net Answer ID. Forgot it? Press the button below.",
    "signin.id_format": "Please enter your Net Answer ID (up to 64 characters, no spaces).",
    "signin.failed": "The Net Answer ID or the password is not right. Please start again with the ID.",
    "signin.codes_paused": "Several passcodes were sent already, so no new one can be sent before {until} Japan time (JST).",
    "signin.locked": (
        "Signing in failed too many times, so it is paused. Please try again after "
        "{until} Japan time (JST)."
    ),
    "signin.forgot": (
        "If you forgot your Net Answer ID or password, reset it on the Saison Card site "
        '(https://www.saisoncard.co.jp/) under "Forgot your ID or password". As a last resort '
        "you can register again with Register anew (you get a new ID, and external services "
        "must be linked again)."
    ),
    "signin.no_mobile": (
        "Your registered phone cannot receive SMS, so you cannot sign in here. Please call "
        "{number} to prove who you are."
    ),
    "signin.linked": (
        "Signed in: Net Answer ID {netid} is now linked to this chat. From now on amounts, "
        "dates, merchant names and points pass through this chat app. Send /unlink to end it."
    ),
    "choice.signin.page": "Open sign-in page",
    "choice.signin.chat": "Sign in in this chat",
    "ask.signin_page": (
        "Press Open sign-in page and enter your Net Answer ID, your password and the "
        "passcode we send by SMS; nothing you type there stays in this chat. Then LINE "
        "asks you to link this chat (the page works for 10 minutes). You can also sign in "
        "here in the chat."
    ),
    "help.signin_page": (
        "The sign-in page is this bot's own page. The password and passcode typed there "
        "never reach the chat and are not stored. If the page has expired, send /start and "
        "choose sign-in again."
    ),
    "signin.link_failed": (
        "Linking with LINE did not work, and this chat is not linked. Please sign in again."
    ),
    "member.recheck": (
        "This chat was last used 90 days ago or more, so we sent you a passcode to "
        "confirm it is you. Your figures show again once it is confirmed."
    ),
    "choice.entry": "Enter securely",
    "entry.stale": (
        "What came from the secure-entry page was for an earlier question, so nothing "
        "was taken from it. Please answer the question below."
    ),
    "card.typed_in_history": (
        "Please note: on LINE I cannot delete the messages you send, so the card details "
        "you typed stay in this chat's history. Press and hold that message and choose "
        "'Unsend' to remove it (within 24 hours of sending). Next time, use the "
        "'Enter securely' button."
    ),
    "entry.title": "Net Answer secure entry",
    "entry.intro": "What you type here does not stay in the chat history. Sending it continues the chat.",
    "entry.card": "Card number (14 to 16 digits)",
    "entry.expiry": "Expiry date (MM/YY, e.g. 08/29 or 0829)",
    "entry.code": "Security code (3 digits on the back; American Express: 4 digits on the front)",
    "entry.password": "Password",
    "entry.repeat": "Password again",
    "entry.pin": "Card PIN (4 digits)",
    "entry.brand": "Card: {brand}",
    "entry.submit": "Send",
    "entry.sent": "Sent. Go back to the chat to continue; you can close this page.",
    "entry.unready": "This page could not get ready. Close it and open it again from the chat.",
    "entry.failed": (
        "Sorry, this could not be taken just now. Go back to the chat and press "
        "'Enter securely' again."
    ),
    "entry.gone": (
        "This entry page cannot be used (its 10 minutes are over, it was used, or it is "
        "for an earlier question). Go back to the chat and press 'Enter securely' under "
        "the question again."
    ),
    "entry.refused": (
        "We could not confirm that you opened this page from your chat, so nothing was "
        "taken. Open it again with 'Enter securely' in the chat."
    ),
    "page.title": "Net Answer sign-in (link LINE)",
    "page.intro": "Sign in with your Net Answer ID and password to link this LINE account.",
    "page.netid": "Net Answer ID",
    "page.password": "Password",
    "page.passcode": "Passcode (6 digits)",
    "page.sent": "We sent a passcode by {via} to {to}. Enter it within 5 minutes.",
    "page.submit": "Next",
    "page.code_expired": "The passcode expired (5 minutes). Please start again with your ID and password.",
    "page.gone": "This sign-in page cannot be used (it expired or was used). Go back to the LINE chat and choose sign-in again.",
    "page.refused": "This page could not be sent. Open the sign-in page again from the LINE chat.",
    "ask.signin_closed": "Signing in has ended. Press Start to sign in again.",
    "help.signin_closed": "Press Start to sign in again; /start goes back to the beginning.",
    "choice.reregister.stop": "Stop",
    "choice.netid.own": "Choose my own ID",
    "choice.netid.issue": "Issue an ID for me",
    "choice.newsletter.yes": "Yes, please",
    "choice.newsletter.no": "No, thanks",
    "choice.terms.agree": "Agree and continue",
    "choice.terms.full": "Read the full terms",
    "choice.terms.more": "Next page",
    "choice.terms.decline": "Do not agree",
    "choice.confirm.ok": "Continue to identity check",
    "choice.confirm.edit": "Go back and fix",
    "choice.fix.card": "Card details",
    "choice.fix.netid": "Net Answer ID",
    "choice.fix.password": "Password",
    "choice.fix.email": "Email address",
    "choice.fix.back": "Back without changes",
    "choice.otp.resend": "Re-issue the passcode",
    "choice.wallet.add": "Add to wallet",
    "choice.wallet.later": "Not now",
    "value.yes": "yes",
    "value.no": "no",
    "value.netid.issued": "(issued when you finish)",
    "value.password.issued": "Your Net Answer ID is issued when you finish. To choose your own, use the button below.",
    "value.password.own": "Your Net Answer ID will be the one you chose.",
    "value.code.back": "the 3 digits on the back",
    "value.code.amex": "the 4 digits on the front, or on some cards the 3 digits on the back",
    "value.via.sms": "SMS",
    "value.via.mail": "email",
    "value.strength.very_high": "very high",
    "value.strength.high": "high",
    "value.strength.medium": "medium",
    "value.strength.low": "low (a longer, more varied password is recommended)",
}

CATALOG: dict[str, dict[str, str]] = {"ja": _JA, "en": _EN}
for _lang, _catalog in CATALOG.items():  # the full terms, page by page
    _catalog.update({f"terms.page.{n}": page for n, page in enumerate(terms.pages(_lang), 1)})
LANGUAGES = tuple(CATALOG)


class _Formatter(string.Formatter):
    """``str.format``, plus the plural spec ``{count:one|other}``."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if "|" in format_spec:
            one, other = format_spec.split("|", 1)
            return one if value == 1 else other
        formatted: str = super().format_field(value, format_spec)
        return formatted


_FORMATTER = _Formatter()


def text(key: str, lang: str, params: Mapping[str, Param] | None = None) -> str:
    catalog = CATALOG.get(lang, _JA)
    lang = lang if lang in CATALOG else DEFAULT_LANG
    values = {name: _written(value, catalog, lang) for name, value in (params or {}).items()}
    return _FORMATTER.vformat(catalog[key], (), values)


def _written(value: Param, catalog: Mapping[str, str], lang: str) -> str | int:
    """A typed parameter in the member's language; any other value as it is."""
    if not isinstance(value, dict):
        return value
    if "phrase" in value:
        return catalog[value["phrase"]]
    if "yen" in value:
        return figures.yen(value["yen"], lang)
    if "points" in value:
        return figures.points(value["points"], lang)
    if "day" in value:
        return figures.day(value["day"], lang)
    if "month" in value:
        return figures.month(value["month"], lang)
    if "totals" in value:
        return ("、" if lang == "ja" else ", ").join(
            f"{figures.month(year_month, lang)} {figures.yen(amount, lang)}"
            for year_month, amount in value["totals"]
        )
    return "\n".join(
        f"{figures.day(when, lang)} {merchant} {figures.yen(amount, lang)} {catalog[kind]}"
        for when, merchant, amount, kind in value["lines"]
    )


def render(reply: Reply, lang: str, *, pictured: bool = False) -> str:
    """The reply's text. A picture the channel does not show (``pictured`` False) is
    said in words after it, so no channel ever drops it silently."""
    said = text(reply.key, lang, dict(reply.params))
    if reply.image is None or pictured:
        return said
    return "\n".join((said, text("image.unshown", lang), alt(reply, lang)))


def alt(reply: Reply, lang: str) -> str:
    """What the reply's picture shows, in words (its alt text); empty without one."""
    if reply.image is None:
        return ""
    return text(reply.image.alt, lang, dict(reply.params))


def label(choice: Choice, lang: str) -> str:
    return text(choice.label, lang)
