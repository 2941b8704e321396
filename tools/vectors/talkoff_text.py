"""Sentences for the talk-off corpus (tools/vectors/talkoff.py), in the languages espeak-ng speaks.

Only the sound matters: each text gives espeak-ng a language's own spelling to read. A voice with no
text of its own reads digits (which every espeak-ng language speaks in its own words) mixed with
English words, as a caller would say a reference number.
"""

from __future__ import annotations

ENGLISH = (
    "the alarm system reports a fault in building seven please acknowledge this message by pressing one. "
    "water pressure is falling at the north pump station and the engineer on call has been told. "
    "good morning, this is the duty desk calling about tonight's maintenance window. "
    "could you please call me back as soon as you get this, it's rather urgent. "
    "the weather will be cold and windy with heavy showers spreading from the west later today. "
    "oh really? I thought the delivery was due on Thursday, not Tuesday! "
    "press one to confirm, press two to decline, or stay on the line to hear the message again. "
    "the quick brown fox jumps over the lazy dog while the children sing in the choir. "
    "we're sorry, all our operators are busy right now; your call is important to us. "
    "hospital ward three needs additional staff tonight between ten and six. "
    "yes, no, maybe, well, hmm, I see, absolutely, certainly not, thank you very much, goodbye. "
    "seventy seven, eleven, fifteen, twenty one, ninety nine, a thousand and one, zero zero seven."
)

# Sentences written for this corpus (everyday speech, numbers, an alert), one string per language.
NATIVE: dict[str, str] = {
    "de": "Guten Morgen, hier spricht die Leitstelle. Die Pumpe im Nordflügel ist ausgefallen. "
    "Bitte bestätigen Sie mit der Taste eins. Das Wetter bleibt morgen kühl und regnerisch, "
    "am Nachmittag frischt der Wind aus Westen auf. Können Sie mich bitte sofort zurückrufen?",
    "fr": "Bonjour, ici le centre de surveillance. La pompe de la station nord est tombée en panne. "
    "Veuillez confirmer en appuyant sur la touche un. Il fera froid demain avec des averses "
    "l'après-midi. Pourriez-vous me rappeler dès que possible, s'il vous plaît ?",
    "es": "Buenos días, le llamamos del centro de control. La bomba de la estación norte ha fallado. "
    "Por favor, confirme pulsando la tecla uno. Mañana hará frío y lloverá por la tarde. "
    "¿Puede devolverme la llamada cuanto antes? Muchas gracias y hasta luego.",
    "it": "Buongiorno, qui è la centrale operativa. La pompa della stazione nord si è guastata. "
    "Per favore confermi premendo il tasto uno. Domani farà freddo con piogge nel pomeriggio. "
    "Può richiamarmi appena possibile? Grazie mille e arrivederci.",
    "pt": "Bom dia, aqui fala a central de controlo. A bomba da estação norte avariou. "
    "Por favor confirme premindo a tecla um. Amanhã vai estar frio e chuvoso à tarde. "
    "Pode ligar-me de volta o mais depressa possível? Muito obrigado e até logo.",
    "nl": "Goedemorgen, u spreekt met de meldkamer. De pomp in de noordvleugel is uitgevallen. "
    "Bevestig alstublieft met toets één. Morgen wordt het koud met buien in de middag. "
    "Kunt u mij zo snel mogelijk terugbellen? Hartelijk dank en tot ziens.",
    "sv": "God morgon, det här är larmcentralen. Pumpen i norra flygeln har stannat. "
    "Bekräfta genom att trycka på ett. I morgon blir det kallt med regnskurar på eftermiddagen. "
    "Kan du ringa tillbaka så snart som möjligt? Tack så mycket och hej då.",
    "da": "Godmorgen, det er alarmcentralen. Pumpen i nordfløjen er stoppet. "
    "Bekræft venligst ved at trykke på et. I morgen bliver det koldt med byger om eftermiddagen.",
    "nb": "God morgen, dette er alarmsentralen. Pumpen i nordfløyen har stoppet. "
    "Bekreft ved å trykke på en. I morgen blir det kaldt med regnbyger om ettermiddagen.",
    "fi": "Hyvää huomenta, täällä hälytyskeskus. Pohjoissiiven pumppu on pysähtynyt. "
    "Vahvista painamalla ykköstä. Huomenna on kylmää ja iltapäivällä sataa. Kiitos ja näkemiin.",
    "pl": "Dzień dobry, tu centrum powiadamiania. Pompa w północnym skrzydle przestała działać. "
    "Proszę potwierdzić, naciskając klawisz jeden. Jutro będzie zimno i deszczowo po południu. "
    "Czy może pan oddzwonić jak najszybciej? Dziękuję bardzo, do widzenia.",
    "cs": "Dobré ráno, tady je dispečink. Čerpadlo v severním křídle se zastavilo. "
    "Potvrďte prosím stisknutím klávesy jedna. Zítra bude chladno a odpoledne bude pršet.",
    "hu": "Jó reggelt, itt a riasztóközpont beszél. Az északi szárny szivattyúja leállt. "
    "Kérem, erősítse meg az egyes gomb megnyomásával. Holnap hideg lesz, délután esni fog.",
    "ro": "Bună dimineața, aici este dispeceratul. Pompa din aripa de nord s-a oprit. "
    "Vă rugăm să confirmați apăsând tasta unu. Mâine va fi frig, cu ploi după-amiază.",
    "tr": "Günaydın, burası alarm merkezi. Kuzey kanattaki pompa durdu. "
    "Lütfen bir tuşuna basarak onaylayın. Yarın hava soğuk olacak, öğleden sonra yağmur bekleniyor.",
    "ru": "Доброе утро, это диспетчерская. Насос в северном крыле остановился. "
    "Пожалуйста, подтвердите нажатием клавиши один. Завтра будет холодно, после обеда дождь. "
    "Перезвоните мне, пожалуйста, как можно скорее. Спасибо, до свидания.",
    "uk": "Доброго ранку, це диспетчерська. Насос у північному крилі зупинився. "
    "Будь ласка, підтвердіть натисканням клавіші один. Завтра буде холодно і дощитиме.",
    "bg": "Добро утро, тук е диспечерският център. Помпата в северното крило спря. "
    "Моля, потвърдете с натискане на бутон едно. Утре ще бъде студено и дъждовно.",
    "el": "Καλημέρα, εδώ είναι το κέντρο ελέγχου. Η αντλία στη βόρεια πτέρυγα σταμάτησε. "
    "Παρακαλώ επιβεβαιώστε πατώντας το πλήκτρο ένα. Αύριο θα κάνει κρύο και θα βρέχει.",
    "ar": "صباح الخير، هنا مركز المراقبة. توقفت المضخة في الجناح الشمالي. "
    "يرجى التأكيد بالضغط على الرقم واحد. سيكون الطقس باردا غدا مع أمطار بعد الظهر.",
    "he": "בוקר טוב, כאן מוקד הבקרה. המשאבה באגף הצפוני הפסיקה לעבוד. "
    "נא לאשר בלחיצה על אחת. מחר יהיה קר וגשום אחר הצהריים.",
    "fa": "صبح بخیر، اینجا مرکز کنترل است. پمپ در بخش شمالی متوقف شده است. "
    "لطفا با فشار دادن دکمه یک تایید کنید. فردا هوا سرد و بارانی خواهد بود.",
    "hi": "नमस्ते, यह नियंत्रण केंद्र है। उत्तरी भवन का पंप बंद हो गया है। "
    "कृपया एक दबाकर पुष्टि करें। कल ठंड रहेगी और दोपहर में बारिश होगी।",
    "bn": "শুভ সকাল, এটি নিয়ন্ত্রণ কেন্দ্র। উত্তর ভবনের পাম্প বন্ধ হয়ে গেছে। অনুগ্রহ করে এক চেপে নিশ্চিত করুন।",
    "ta": "காலை வணக்கம், இது கட்டுப்பாட்டு மையம். வடக்கு பகுதியில் உள்ள பம்ப் நின்றுவிட்டது.",
    "cmn": "早上好，这里是控制中心。北楼的水泵停止运行了。请按一键确认。"
    "明天天气寒冷，下午有雨。请尽快给我回电话，谢谢，再见。",
    "yue": "早晨，呢度係控制中心。北翼嘅水泵停咗。請按一確認。聽日會好凍，下晝落雨。",
    "ja": "おはようございます。こちらは監視センターです。北棟のポンプが停止しました。"
    "確認のため一を押してください。明日は寒く、午後は雨になるでしょう。",
    "ko": "안녕하세요, 여기는 관제 센터입니다. 북쪽 건물의 펌프가 멈췄습니다. "
    "확인하시려면 일번을 눌러 주세요. 내일은 춥고 오후에 비가 오겠습니다.",
    "vi": "Chào buổi sáng, đây là trung tâm điều khiển. Máy bơm ở cánh phía bắc đã ngừng hoạt động. "
    "Vui lòng xác nhận bằng cách nhấn phím một. Ngày mai trời lạnh và có mưa vào buổi chiều.",
    "th": "สวัสดีตอนเช้า ที่นี่ศูนย์ควบคุม ปั๊มน้ำที่ปีกเหนือหยุดทำงานแล้ว กรุณากดหนึ่งเพื่อยืนยัน",
    "id": "Selamat pagi, ini pusat kendali. Pompa di sayap utara berhenti bekerja. "
    "Silakan konfirmasi dengan menekan tombol satu. Besok cuaca dingin dan hujan pada sore hari.",
    "ms": "Selamat pagi, ini pusat kawalan. Pam di sayap utara telah berhenti. Sila tekan satu untuk mengesahkan.",
    "sw": "Habari za asubuhi, hapa ni kituo cha udhibiti. Pampu ya upande wa kaskazini imesimama. "
    "Tafadhali thibitisha kwa kubonyeza moja. Kesho kutakuwa na baridi na mvua mchana.",
    "ka": "დილა მშვიდობისა, ეს არის საკონტროლო ცენტრი. ჩრდილოეთ ფრთის ტუმბო გაჩერდა.",
    "hy": "Բարի լույս, սա կառավարման կենտրոնն է։ Հյուսիսային թևի պոմպը կանգ է առել։",
    "is": "Góðan daginn, þetta er stjórnstöðin. Dælan í norðurálmunni hefur stöðvast. Vinsamlegast staðfestu.",
    "cy": "Bore da, dyma'r ganolfan reoli. Mae'r pwmp yn yr adain ogleddol wedi stopio. Diolch yn fawr.",
    "eu": "Egun on, hau kontrol zentroa da. Iparraldeko hegaleko ponpa gelditu egin da. Eskerrik asko.",
    "la": "Salve, hic est centrum custodiae. Antlia in ala septentrionali constitit. Gratias tibi ago.",
    "eo": "Bonan matenon, jen la kontrolcentro. La pumpilo en la norda flugilo haltis. Dankon kaj ĝis revido.",
}

# Digits read in each voice's own language: reference numbers, times, amounts.
NUMBERS = (
    "1 2 3 4 5 6 7 8 9 0",
    "4711 0815 1234 5678",
    "17:45 08:30 23:59 12:00",
    "3,5 12,75 99,99 1000000",
    "21 33 47 58 64 76 89 92",
    "2024 1999 1848 1066",
    "365 24 7 60 1440 86400",
)
